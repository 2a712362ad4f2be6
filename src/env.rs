//! The environment a command runs in: the clock, the standard streams, the local host name and
//! the network.
//!
//! Library code reaches the outside world only through [`Env`] and its network half [`Net`],
//! so that command tests run with a fixed clock, captured output and loopback servers.
//! [`RealEnv`] and [`SystemNet`] are the ones the binary uses. [`Net`] is `Send + Sync`, so
//! concurrent probes can share one. Every wait here has a deadline, and every read of an input
//! has a size cap ([`read_capped`]). Nothing here interprets what it reads or writes.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// The largest input file or standard input read, in bytes. A certificate chain is a few
/// kilobytes; this leaves room for bundles and keeps `/dev/zero` from filling memory.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// The buffer of a streamed input (standard input, logs): large enough that reading costs few
/// system calls.
pub const STREAM_BUFFER_BYTES: usize = 256 * 1024;

/// The longest time any one wait may be given (`--timeout`, `--greeting-timeout`).
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A bidirectional byte stream to a peer (a TCP connection, or a test double).
pub trait Stream: Read + Write + Send {
    /// Sets how long one read may block (`None`: forever). Test doubles that never block may
    /// ignore it.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// An open connection made by [`Net::connect`].
pub struct Connection {
    pub stream: Box<dyn Stream>,
    /// The address connected to.
    pub peer: SocketAddr,
    /// The local address of the connection, when the transport knows it.
    pub local: Option<SocketAddr>,
}

/// Name resolution and TCP connections. Shared by concurrent probes.
pub trait Net: Send + Sync {
    /// The addresses of `host` (a domain name or an IP literal), each with `port`, within
    /// `timeout`.
    fn resolve(&self, host: &str, port: u16, timeout: Duration) -> io::Result<Vec<SocketAddr>>;

    /// Opens a TCP connection to `addr` within `timeout`. Reads and writes on the stream are
    /// bounded by `timeout` too, until the caller sets other read timeouts.
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Connection>;

    /// Sends one UDP datagram to `server` and returns the first datagram that comes back from
    /// it within `timeout` (a DNS exchange; the caller checks what it got).
    fn udp_exchange(
        &self,
        server: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>>;
}

/// Why an input could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("larger than {} MiB, too large for a certificate, key or CSR", cap / (1024 * 1024))]
    TooLarge { cap: usize },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Clock, standard streams, host name and network access for one run of a command.
pub trait Env {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> i64;

    /// Name resolution and connections.
    fn net(&self) -> &dyn Net;

    /// This machine's fully qualified domain name, if it has one (for SMTP `EHLO`).
    fn fqdn(&self) -> Option<String>;

    /// The recursive resolvers the system is configured with (`nameserver` lines of
    /// `/etc/resolv.conf`), each on port 53.
    fn system_resolvers(&self) -> Vec<SocketAddr>;

    /// Reads standard input to its end, at most `cap` bytes.
    fn read_stdin(&mut self, cap: usize) -> Result<Vec<u8>, ReadError>;

    /// Standard input as a stream, for inputs read line by line without a size cap on the
    /// whole (each line is capped by its reader). By default, what [`Env::read_stdin`] gives, as
    /// test environments script it; [`RealEnv`] streams it, so logs of any size can be piped in.
    fn stdin_stream(&mut self) -> Box<dyn io::BufRead + Send + '_> {
        Box::new(io::Cursor::new(
            self.read_stdin(crate::env::MAX_INPUT_BYTES)
                .unwrap_or_default(),
        ))
    }

    /// Whether standard error is a terminal (for progress bars).
    fn stderr_is_terminal(&self) -> bool {
        false
    }

    /// The stream for results.
    fn stdout(&mut self) -> &mut dyn Write;

    /// The stream for diagnostics.
    fn stderr(&mut self) -> &mut dyn Write;

    /// The network and the stream for results at once, for a command whose threads use the
    /// network while it writes their results.
    fn net_and_stdout(&mut self) -> (&dyn Net, &mut dyn Write);
}

/// Reads `reader` to its end, refusing more than `cap` bytes.
pub fn read_capped(reader: impl Read, cap: usize) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(buf)
}

/// Reads a file, refusing more than `cap` bytes.
pub fn read_file(path: &Path, cap: usize) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    read_capped(file, cap)
}

/// The process's own environment: system clock, system resolver, real sockets.
pub struct RealEnv {
    stdout: io::Stdout,
    stderr: io::Stderr,
    net: SystemNet,
}

impl RealEnv {
    pub fn new() -> Self {
        RealEnv {
            stdout: io::stdout(),
            stderr: io::stderr(),
            net: SystemNet,
        }
    }
}

impl Default for RealEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for RealEnv {
    fn now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        }
    }

    fn net(&self) -> &dyn Net {
        &self.net
    }

    fn fqdn(&self) -> Option<String> {
        system_fqdn()
    }

    fn system_resolvers(&self) -> Vec<SocketAddr> {
        read_file(Path::new("/etc/resolv.conf"), 1024 * 1024)
            .map(|text| resolvers_from_resolv_conf(&String::from_utf8_lossy(&text)))
            .unwrap_or_default()
    }

    fn read_stdin(&mut self, cap: usize) -> Result<Vec<u8>, ReadError> {
        read_capped(io::stdin().lock(), cap)
    }

    fn stdin_stream(&mut self) -> Box<dyn io::BufRead + Send + '_> {
        Box::new(io::BufReader::with_capacity(
            STREAM_BUFFER_BYTES,
            io::stdin(),
        ))
    }

    fn stderr_is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        io::stderr().is_terminal()
    }

    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }

    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.stderr
    }

    fn net_and_stdout(&mut self) -> (&dyn Net, &mut dyn Write) {
        (&self.net, &mut self.stdout)
    }
}

/// The system resolver and real TCP sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemNet;

impl Net for SystemNet {
    fn resolve(&self, host: &str, port: u16, timeout: Duration) -> io::Result<Vec<SocketAddr>> {
        resolve_system(host, port, timeout)
    }

    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        connect_tcp(addr, timeout)
    }

    fn udp_exchange(
        &self,
        server: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>> {
        udp_exchange(server, payload, timeout)
    }
}

/// Sends `payload` from an ephemeral port of the right family to `server`, and returns the
/// first datagram the server sends back within `timeout` (a connected socket hears no one
/// else). At most 65535 bytes.
pub fn udp_exchange(server: SocketAddr, payload: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;
    socket.send(payload)?;
    let mut buf = vec![0u8; 65535];
    let n = socket.recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// The `nameserver` addresses of resolv.conf text, on port 53.
pub fn resolvers_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|a| a.split('%').next())
                .and_then(|a| a.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`. On any error the old file is left as it was and the
/// temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".danekit-{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Resolves `host` with the system resolver within `timeout`. The lookup runs on its own
/// thread, because `getaddrinfo` cannot be interrupted; when the time is up the caller goes on
/// and the thread ends on its own.
pub fn resolve_system(host: &str, port: u16, timeout: Duration) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let result = (name.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>());
            let _ = tx.send(result);
        })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if addrs.is_empty() => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no address"),
        )),
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer for {host} within {} ms", timeout.as_millis()),
        )),
    }
}

/// Connects to `addr` within `timeout` and sets the same timeout for reads and writes.
pub fn connect_tcp(addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_nodelay(true)?;
    let local = tcp.local_addr().ok();
    Ok(Connection {
        stream: Box::new(tcp),
        peer: addr,
        local,
    })
}

/// The host name from the kernel when it is fully qualified (has a dot), else the first
/// dotted alias of that name in `/etc/hosts`, as `hostname -f` finds it on most systems.
fn system_fqdn() -> Option<String> {
    let short = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let short = short.trim();
    if short.is_empty() {
        return None;
    }
    if short.contains('.') {
        return Some(short.to_owned());
    }
    let hosts = read_file(Path::new("/etc/hosts"), 1024 * 1024).ok()?;
    fqdn_from_hosts(&String::from_utf8_lossy(&hosts), short)
}

/// In `/etc/hosts` text, the first name with a dot on a line that also names `short`.
fn fqdn_from_hosts(hosts: &str, short: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        let mentions = names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(short) || n.split('.').next() == Some(short));
        if !mentions {
            return None;
        }
        names
            .iter()
            .find(|n| n.contains('.') && n.split('.').next() == Some(short))
            .map(|n| (*n).to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped() {
        let data = [7u8; 100];
        assert_eq!(read_capped(&data[..], 100).unwrap().len(), 100);
        assert!(matches!(
            read_capped(&data[..], 99),
            Err(ReadError::TooLarge { cap: 99 })
        ));
        let zeros = io::repeat(0);
        assert!(matches!(
            read_capped(zeros, 1 << 20),
            Err(ReadError::TooLarge { .. })
        ));
    }

    #[test]
    fn fqdn_from_etc_hosts_lines() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 mx mx.example.org\n\
                     127.0.1.1 mx.example.test mx\n::1 ip6-localhost\n";
        assert_eq!(
            fqdn_from_hosts(hosts, "mx").as_deref(),
            Some("mx.example.test")
        );
        assert_eq!(fqdn_from_hosts(hosts, "other"), None);
        assert_eq!(fqdn_from_hosts("127.0.1.1 mx\n", "mx"), None);
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# comment\nsearch example.test\nnameserver 192.0.2.53\n\
                    nameserver fe80::1%eth0\nnameserver bogus\noptions edns0\n";
        assert_eq!(
            resolvers_from_resolv_conf(text),
            vec![
                "192.0.2.53:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn atomic_writes_replace_or_leave_alone() {
        let dir = std::env::temp_dir().join(format!("danekit-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.zone");
        std::fs::write(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        // A directory that does not exist: an error, nothing written anywhere.
        let missing = dir.join("no/such/dir/out.zone");
        assert!(write_atomic(&missing, b"x").is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolving_an_address_literal_needs_no_lookup() {
        let addrs = resolve_system("127.0.0.1", 25, Duration::from_secs(1)).unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:25".parse().unwrap()]);
        let addrs = resolve_system("::1", 25, Duration::from_secs(1)).unwrap();
        assert_eq!(addrs, vec!["[::1]:25".parse().unwrap()]);
    }
}
