//! The environment a command runs in: the clock, the standard streams and the network.
//!
//! Library code reaches the outside world only through [`Env`], so that command tests can run
//! with a fixed clock, captured output and loopback servers. [`RealEnv`] is the one used by the
//! binary. Nothing here interprets what it reads or writes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A bidirectional byte stream to a peer (a TCP connection, or a test double).
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A connection made by [`Env::connect`], with the address that answered.
pub struct Connection {
    pub stream: Box<dyn Stream>,
    pub peer: SocketAddr,
}

/// Clock, standard streams and network access for one run of a command.
pub trait Env {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> i64;

    /// Opens a TCP connection to `host:port`, trying each resolved address in turn. The stream
    /// has read and write timeouts of `timeout` set, so a silent peer gives an error instead of
    /// a hang.
    fn connect(&self, host: &str, port: u16, timeout: Duration) -> io::Result<Connection>;

    /// Reads standard input to its end.
    fn read_stdin(&mut self) -> io::Result<Vec<u8>>;

    /// The stream for results.
    fn stdout(&mut self) -> &mut dyn Write;

    /// The stream for diagnostics.
    fn stderr(&mut self) -> &mut dyn Write;
}

/// The process's own environment: system clock, system resolver, real sockets.
pub struct RealEnv {
    stdout: io::Stdout,
    stderr: io::Stderr,
}

impl RealEnv {
    pub fn new() -> Self {
        RealEnv {
            stdout: io::stdout(),
            stderr: io::stderr(),
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

    fn connect(&self, host: &str, port: u16, timeout: Duration) -> io::Result<Connection> {
        connect_tcp(host, port, timeout)
    }

    fn read_stdin(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        io::stdin().lock().read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }

    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.stderr
    }
}

/// Connects to the first address of `host:port` that accepts within `timeout`, and sets the
/// same timeout for reads and writes. `host` may be a name, an IPv4 address or an IPv6 address
/// with or without brackets.
pub fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<Connection> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (bare, port).to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(timeout))?;
                tcp.set_write_timeout(Some(timeout))?;
                tcp.set_nodelay(true)?;
                return Ok(Connection {
                    stream: Box::new(tcp),
                    peer: addr,
                });
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
