//! Monitoring output: `-o openmetrics` of `verify`, `dnssec` and `rollover check` read back by
//! a real OpenMetrics parser (the `prometheus_client` Python package, Debian's
//! python3-prometheus-client) and linted by `promtool check metrics`; `verify --nagios` with
//! each plugin state; the `contrib/` alert rules checked by `promtool check rules`; and the
//! textfile wrapper script's atomic write and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use support::dns_auth::{AuthServer, Hierarchy, ZoneSpec, now};
use support::interop::require_tool;
use support::mail_servers::{Behaviour, LoopbackEnv};
use support::sites::{Servers, WRONG, ee, leaf, root, served, spec, start};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "danekit-monitoring-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// good: authenticated; bad: mismatch; soon: a leaf that expires on 2089-12-30.
struct Site {
    servers: Servers,
    dns: AuthServer,
    dir: PathBuf,
    anchor: PathBuf,
}

fn site() -> Site {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let (s, sk) = leaf(&ca, &["soon.example.test"], (2025, 2089), false);
    let servers = start(vec![
        spec(1, Behaviour::SmtpStarttls, vec![served(vec![l.clone()], k)]),
        spec(
            2,
            Behaviour::SmtpStarttls,
            vec![served(vec![s.clone()], sk)],
        ),
    ]);
    let p = servers.port;
    let lines = format!(
        "mx A {ip1}\nmx2 A {ip1}\nmx3 A {ip2}\ngood MX 10 mx\nbad MX 10 mx2\nsoon MX 10 mx3\n\
         _{p}._tcp.mx TLSA {}\n_{p}._tcp.mx2 TLSA {WRONG}\n_{p}._tcp.mx3 TLSA {}\n",
        ee(&l),
        ee(&s),
        ip1 = servers.ip(1),
        ip2 = servers.ip(2),
    );
    let dns = AuthServer::start(
        Hierarchy::rooted(vec![ZoneSpec::new("example.test").record(&lines)]),
        vec![],
    );
    let dir = tempdir();
    let anchor = dir.join("anchor.zone");
    std::fs::write(&anchor, dns.hierarchy().trust_anchor_ds().join("\n")).unwrap();
    Site {
        servers,
        dns,
        dir,
        anchor,
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn danekit(site: &Site, at: i64, args: &[&str]) -> (u8, String, String) {
    let mut env = LoopbackEnv::new();
    env.now = i64::from(now());
    let resolver = site.dns.addr.to_string();
    let when = at.to_string();
    let mut argv = vec![
        "danekit",
        "--resolver",
        &resolver,
        "--trust-anchor",
        site.anchor.to_str().unwrap(),
        "--timeout",
        "2s",
        "--now",
        &when,
    ];
    argv.extend_from_slice(args);
    let code = danekit::cli::run(argv, &mut env);
    (
        code,
        String::from_utf8(env.stdout).unwrap(),
        String::from_utf8(env.stderr).unwrap(),
    )
}

fn verify_args(site: &Site, domain: &'static str) -> Vec<String> {
    vec![
        "verify".into(),
        domain.into(),
        "--port".into(),
        site.servers.port.to_string(),
        "--starttls".into(),
        "smtp".into(),
    ]
}

/// Parses OpenMetrics text with prometheus_client's parser (strict: `# EOF` required) and
/// returns `name{sorted labels} -> value` for every sample, or `None` when the parser is not
/// installed (the test is then skipped, and fails under CI=true).
fn parse(text: &str) -> Option<BTreeMap<String, f64>> {
    // Debian's interpreter, which sees Debian's python3-* packages (a `python3` earlier on
    // PATH, e.g. a pyenv shim, may not).
    let python = require_tool("/usr/bin/python3", "python3")?;
    let script = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
        out = {}\n\
        for f in p(sys.stdin.read()):\n\
        \x20   assert f.type == 'gauge', f.type\n\
        \x20   for s in f.samples:\n\
        \x20       labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n\
        \x20       out['%s{%s}' % (s.name, labels)] = s.value\n\
        print(json.dumps(out))\n";
    let probe = Command::new(&python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .status()
        .unwrap();
    if !probe.success() {
        support::interop::print_skip("python3-prometheus-client not installed");
        assert!(
            std::env::var("CI").is_err(),
            "python3-prometheus-client is missing in CI"
        );
        return None;
    }
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the output: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// `promtool check metrics` (the Prometheus linter of metric names and help texts).
fn lint(text: &str) {
    let Some(promtool) = require_tool("promtool", "prometheus") else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn verify_metrics_are_openmetrics_with_one_gauge_per_outcome() {
    let site = site();
    let t = i64::from(now());
    let args = verify_args(&site, "good.example.test");
    let mut argv: Vec<&str> = args.iter().map(String::as_str).collect();
    argv.extend(["-o", "openmetrics"]);
    let (code, text, err) = danekit(&site, t, &argv);
    assert_eq!(code, 0, "{err}");
    assert!(text.ends_with("# EOF\n"));
    lint(&text);
    let Some(m) = parse(&text) else { return };
    let ip = site.servers.ip(1);
    let port = site.servers.port;
    let key = |name: &str, extra: &str| {
        format!(
            "{name}{{address={ip},domain=good.example.test.,host=mx.example.test.,{extra}port={port}}}"
        )
    };
    assert_eq!(
        m[&key("danekit_verify_outcome", "outcome=authenticated,")],
        1.0
    );
    assert_eq!(m[&key("danekit_verify_outcome", "outcome=mismatch,")], 0.0);
    let outcomes = m
        .keys()
        .filter(|k| k.starts_with("danekit_verify_outcome{"))
        .count();
    assert_eq!(outcomes, 7);
    let expiry = m[&key("danekit_verify_leaf_expiry_seconds", "")];
    let until_2100 = 4_102_444_800_i64 - t;
    assert_eq!(expiry, until_2100 as f64);
    assert_eq!(
        m["danekit_verify_verdict{domain=good.example.test.,verdict=pass}"],
        1.0
    );
    assert_eq!(
        m[&format!(
            "danekit_verify_tlsa_usable_records{{domain=good.example.test.,host=mx.example.test.,port={port}}}"
        )],
        1.0
    );
    // The test zones are signed until 2090-01-01.
    assert_eq!(
        m["danekit_verify_rrsig_expiry_seconds{domain=good.example.test.}"],
        (3_786_912_000_i64 - t) as f64
    );
}

#[test]
fn dnssec_and_rollover_metrics_parse() {
    let site = site();
    let t = i64::from(now());
    let (code, text, err) = danekit(
        &site,
        t,
        &["dnssec", "good.example.test", "-o", "openmetrics"],
    );
    assert_eq!(code, 0, "{err}");
    lint(&text);
    if let Some(m) = parse(&text) {
        assert_eq!(
            m["danekit_dnssec_status{domain=good.example.test.,name=good.example.test.,status=secure,type=MX}"],
            1.0
        );
        assert_eq!(
            m["danekit_dnssec_status{domain=good.example.test.,name=good.example.test.,status=bogus,type=MX}"],
            0.0
        );
    }
    // rollover check of a services file whose next key is not published.
    let ca = root("Example CA");
    let (l, _) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let next = rcgen::KeyPair::generate().unwrap();
    let pem = |der: &[u8]| {
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            data_encoding::BASE64.encode(der)
        )
    };
    std::fs::write(site.dir.join("cur.pem"), pem(&l)).unwrap();
    std::fs::write(site.dir.join("next.pem"), next.public_key_pem()).unwrap();
    let services = site.dir.join("services.yaml");
    std::fs::write(
        &services,
        "zone: example.test.\nservices:\n  - host: mx\n    ports: [25]\n    cert: cur.pem\n    next: next.pem\n",
    )
    .unwrap();
    let ns = site.dns.addr.to_string();
    let (code, text, err) = danekit(
        &site,
        t,
        &[
            "rollover",
            "check",
            services.to_str().unwrap(),
            "--nameserver",
            &ns,
            "-o",
            "openmetrics",
        ],
    );
    assert_eq!(code, 1, "{err}");
    lint(&text);
    if let Some(m) = parse(&text) {
        assert_eq!(
            m["danekit_rollover_verdict{host=mx.example.test.,port=25,verdict=unsafe}"],
            1.0
        );
        assert_eq!(
            m["danekit_rollover_verdict{host=mx.example.test.,port=25,verdict=safe}"],
            0.0
        );
    }
}

#[test]
fn nagios_mode_maps_outcomes_to_plugin_states() {
    let site = site();
    let t = i64::from(now());
    let run = |domain: &'static str, at: i64, extra: &[&str]| {
        let args = verify_args(&site, domain);
        let mut argv: Vec<&str> = args.iter().map(String::as_str).collect();
        argv.push("--nagios");
        argv.extend_from_slice(extra);
        danekit(&site, at, &argv)
    };
    let (code, line, _) = run("good.example.test", t, &[]);
    assert_eq!(code, 0);
    let leaf = 4_102_444_800_i64 - t;
    let rrsig = 3_786_912_000_i64 - t;
    assert_eq!(
        line,
        format!(
            "DANE OK - good.example.test.: 1 authenticated | authenticated=1;;;0 mismatch=0;;;0 \
             tls_required=0;;;0 no_dane=0;;;0 dns_failure=0;;;0 starttls_missing=0;;;0 \
             unreachable=0;;;0 leaf_expiry={leaf}s;1209600;0 rrsig_expiry={rrsig}s;1209600;0\n"
        )
    );
    let (code, line, _) = run("bad.example.test", t, &[]);
    assert_eq!(code, 2);
    assert!(
        line.starts_with("DANE CRITICAL - bad.example.test.: 1 mismatch | "),
        "{line}"
    );
    // Ten days before the leaf (2089-01-01) expires: WARNING.
    let before = 3_755_376_000_i64 - 10 * 86400;
    let (code, line, _) = run("soon.example.test", before, &[]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.starts_with(
            "DANE WARNING - soon.example.test.: 1 authenticated; a certificate expires at 2089-01-01T00:00:00Z | "
        ),
        "{line}"
    );
    let (code, _, _) = run("soon.example.test", before, &["--warn-expiry", "5d"]);
    assert_eq!(code, 0);
    // No such domain is a failed check; an unanswered one UNKNOWN.
    let (code, line, _) = run("nowhere.example.test", t, &[]);
    assert_eq!(code, 2, "{line}");
    let (code, line, err) = run("good.example.test", t, &["-o", "json"]);
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(doc["verdict"], "error");
    assert_eq!(
        err,
        "error: --nagios writes the plugin's status line; leave out -o\n"
    );
}

#[test]
fn the_alert_rules_load_in_promtool_and_name_real_metrics() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus/danekit.rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let exprs: Vec<String> = doc["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["expr"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exprs.len(), 6);
    let known = [
        "danekit_verify_outcome",
        "danekit_verify_leaf_expiry_seconds",
        "danekit_verify_rrsig_expiry_seconds",
        "danekit_verify_tlsa_usable_records",
        "danekit_dnssec_status",
    ];
    for e in &exprs {
        assert!(known.iter().any(|k| e.contains(k)), "{e}");
    }
    let Some(promtool) = require_tool("promtool", "prometheus") else {
        return;
    };
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 6 rules found"));
}

#[test]
fn the_textfile_wrapper_replaces_the_file_atomically_and_keeps_it_on_bad_input() {
    let dir = tempdir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/danekit-textfile");
    let fake = dir.join("fake-danekit");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '# TYPE danekit_x gauge\\ndanekit_x %s\\n# EOF\\n' \"$FAKE_RC\"\nexit \"$FAKE_RC\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.join("danekit.prom");
    let run = |rc: &str| {
        Command::new("sh")
            .arg(&script)
            .arg(&out)
            .args(["verify", "example.org"])
            .env("DANEKIT", &fake)
            .env("FAKE_RC", rc)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(run("1"), Some(1));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "# TYPE danekit_x gauge\ndanekit_x 1\n# EOF\n"
    );
    assert_eq!(run("2"), Some(2));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "# TYPE danekit_x gauge\ndanekit_x 1\n# EOF\n"
    );
    assert_eq!(run("0"), Some(0));
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("danekit_x 0")
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".danekit-textfile"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
