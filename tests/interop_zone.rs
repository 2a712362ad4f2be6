//! Interoperability of `danekit tlsa -o zone` and `danekit zone -o zone`: the lines load in
//! BIND's `named-checkzone` and Knot's `kzonecheck` when `$INCLUDE`d under a stub SOA/NS, and
//! BIND reads back exactly the records danekit meant (compared with the zone
//! `named-checkzone -D` dumps). `tests/interop_zone_apply.rs` loads `danekit zone` output into
//! running servers.
//!
//! With `CI=true` a missing tool fails the test; without it the test prints `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::interop::{
    TempDir, danekit_bin, danekit_ok, danekit_tlsa_json, describe, normalise_hex, pki,
    require_tool, run, run_ok,
};

/// Parameter sets covering every selector and matching type for usages 2 and 3, including the
/// large `x 0 0` records that wrap in BIND's output.
const RECORDS: &str = "3 1 1,3 1 2,3 1 0,3 0 1,3 0 2,3 0 0,2 1 1,2 1 2,2 1 0,2 0 1,2 0 2,2 0 0";

const STUB: &str = "$TTL 3600\n\
@ IN SOA ns1.example.test. hostmaster.example.test. 1 3600 900 604800 300\n\
@ IN NS ns1.example.test.\n\
ns1 IN A 192.0.2.53\n";

/// `(owner, "U S M hex")` of every TLSA line in master-file text, hex in lower case without
/// spaces, whatever the TTL column layout.
fn tlsa_set(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|f| *f == "TLSA")?;
            let owner = fields.first()?.to_ascii_lowercase();
            let params = fields.get(at + 1..at + 4)?.join(" ");
            let data = normalise_hex(&fields.get(at + 4..)?.join(""));
            Some((owner, format!("{params} {data}")))
        })
        .collect()
}

/// The zone fragment danekit writes for several services of `example.test`.
fn fragment() -> String {
    let mut out = String::new();
    for (file, host, port, proto) in [
        ("leaf-p256.fullchain.pem", "mail.example.test", "25", "tcp"),
        ("leaf-rsa2048.chain.pem", "mx2.example.test", "465", "tcp"),
        ("leaf-ed25519.chain.pem", "imap.example.test", "993", "tcp"),
        ("leaf-p384.chain.pem", "sip.example.test", "5061", "sctp"),
        ("weak-rsa1024.chain.pem", "dns.example.test", "853", "udp"),
    ] {
        let path = pki(file);
        out.push_str(&danekit_ok(
            &[
                path.to_str()
                    .map(|p| ["tlsa", p])
                    .expect("UTF-8 path")
                    .as_slice(),
                &[
                    "--records",
                    RECORDS,
                    "--host",
                    host,
                    "--port",
                    port,
                    "--proto",
                    proto,
                    "-o",
                    "zone",
                    "-q",
                ],
            ]
            .concat(),
        ));
    }
    // A next key, published beside the current one.
    let next = pki("leaf-p384.pub.pem");
    out.push_str(&danekit_ok(&[
        "tlsa",
        next.to_str().expect("UTF-8 path"),
        "--host",
        "mail.example.test",
        "-o",
        "zone",
    ]));
    out
}

fn write_zone(dir: &Path, fragment: &str) -> std::path::PathBuf {
    let include = dir.join("tlsa.zone");
    std::fs::write(&include, fragment).expect("write fragment");
    let zone = dir.join("example.test.zone");
    std::fs::write(
        &zone,
        format!("{STUB}$INCLUDE {}\n", include.to_str().expect("UTF-8 path")),
    )
    .expect("write zone");
    zone
}

#[test]
fn named_checkzone_loads_the_fragment_and_reads_back_the_same_records() {
    let Some(checkzone) = require_tool("named-checkzone", "bind9-utils") else {
        return;
    };
    let dir = TempDir::new("named-checkzone");
    let fragment = fragment();
    let zone = write_zone(dir.path(), &fragment);
    let zone_arg = zone.to_str().expect("UTF-8 path");
    let dump = run_ok(
        &checkzone,
        &["-D", "-o", "-", "example.test", zone_arg],
        None,
    );
    let dumped = tlsa_set(&String::from_utf8_lossy(&dump));
    let written = tlsa_set(&fragment);
    assert_eq!(written.len(), 5 * 12 + 1, "fragment:\n{fragment}");
    assert_eq!(
        dumped, written,
        "BIND read other records than danekit wrote"
    );
}

#[test]
fn kzonecheck_accepts_the_fragment() {
    let Some(kzonecheck) = require_tool("kzonecheck", "knot-dnssecutils") else {
        return;
    };
    let dir = TempDir::new("kzonecheck");
    let zone = write_zone(dir.path(), &fragment());
    let out = run(
        &kzonecheck,
        &["-o", "example.test.", zone.to_str().expect("UTF-8 path")],
        None,
    );
    assert!(
        out.status.success(),
        "kzonecheck refused the fragment:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The same checker refuses a broken line, so the pass above means something.
    let bad = write_zone(
        dir.path(),
        "_25._tcp.mail.example.test. 3600 IN TLSA 3 1 1 zz\n",
    );
    let out = run(
        &kzonecheck,
        &["-o", "example.test.", bad.to_str().expect("UTF-8 path")],
        None,
    );
    assert!(!out.status.success(), "kzonecheck accepted bad hex");
}

/// A services file with relative paths, in `dir/conf/services.yaml`: its certificates in
/// `dir/certs/` (`../certs/…`) and beside it (`dns.chain.pem`); hosts relative to the zone and
/// fully qualified; default and per-service parameter sets, a next key, a per-service TTL and
/// `proto: udp`. Returns the file and the records it must give, each computed by
/// `danekit tlsa -o json` from the same fixtures.
fn relative_services(dir: &Path) -> (PathBuf, BTreeSet<(String, String)>) {
    let conf = dir.join("conf");
    let certs = dir.join("certs");
    std::fs::create_dir(&conf).expect("conf directory");
    std::fs::create_dir(&certs).expect("certs directory");
    for (fixture, to) in [
        ("leaf-p256.fullchain.pem", certs.join("mail.fullchain.pem")),
        ("leaf-rsa2048.chain.pem", certs.join("imap.chain.pem")),
        ("leaf-p384.pub.pem", certs.join("imap.next.pub.pem")),
        ("leaf-ed25519.chain.pem", conf.join("dns.chain.pem")),
    ] {
        std::fs::copy(pki(fixture), &to).expect("copy fixture");
    }
    let yaml = "zone: example.test.\n\
                ttl: 3600\n\
                records: [\"3 1 1\", \"2 1 1\"]\n\
                services:\n\
                \x20 - host: mail\n\
                \x20   ports: [25, 465]\n\
                \x20   cert: ../certs/mail.fullchain.pem\n\
                \x20 - host: imap.example.test.\n\
                \x20   ports: [993]\n\
                \x20   proto: tcp\n\
                \x20   cert: ../certs/imap.chain.pem\n\
                \x20   next: ../certs/imap.next.pub.pem\n\
                \x20   records: [\"3 1 1\"]\n\
                \x20   ttl: 300\n\
                \x20 - host: dns\n\
                \x20   ports: [853]\n\
                \x20   proto: udp\n\
                \x20   cert: dns.chain.pem\n\
                \x20   records: [\"3 1 1\"]\n";
    let file = conf.join("services.yaml");
    std::fs::write(&file, yaml).expect("write services.yaml");

    let mut expected = BTreeSet::new();
    for (inputs, records, host, port, proto, ttl) in [
        (
            vec!["leaf-p256.fullchain.pem"],
            "3 1 1,2 1 1",
            "mail.example.test",
            "25",
            "tcp",
            "3600",
        ),
        (
            vec!["leaf-p256.fullchain.pem"],
            "3 1 1,2 1 1",
            "mail.example.test",
            "465",
            "tcp",
            "3600",
        ),
        (
            vec!["leaf-rsa2048.chain.pem", "leaf-p384.pub.pem"],
            "3 1 1",
            "imap.example.test",
            "993",
            "tcp",
            "300",
        ),
        (
            vec!["leaf-ed25519.chain.pem"],
            "3 1 1",
            "dns.example.test",
            "853",
            "udp",
            "3600",
        ),
    ] {
        let paths: Vec<PathBuf> = inputs.iter().map(|i| pki(i)).collect();
        let mut args: Vec<&str> = paths
            .iter()
            .map(|p| p.to_str().expect("UTF-8 path"))
            .collect();
        args.extend([
            "--records",
            records,
            "--host",
            host,
            "--port",
            port,
            "--proto",
            proto,
            "--ttl",
            ttl,
            "-q",
        ]);
        for r in danekit_tlsa_json(&args).records {
            let owner = r.owner.expect("owner");
            let line = format!(
                "{owner} {} IN TLSA {} {} {} {}",
                r.ttl, r.usage, r.selector, r.matching_type, r.data
            );
            expected.extend(tlsa_set(&line));
        }
    }
    (file, expected)
}

/// `danekit zone FILE ARGS` run from `/`, so that a relative path in the file can only be read
/// relative to the file; panics unless it exits 0, and returns stdout.
fn danekit_zone_from_root(file: &Path, args: &[&str]) -> String {
    let mut all = vec!["zone", file.to_str().expect("UTF-8 path")];
    all.extend(args);
    let line = describe(danekit_bin(), &all);
    let out = Command::new(danekit_bin())
        .args(&all)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{line}`: {e}"));
    assert!(
        out.status.success(),
        "`{line}` (from /) failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("danekit prints UTF-8")
}

/// `danekit zone -o zone` (the default) from a services file with relative paths: master-file
/// lines `OWNER TTL IN TLSA U S M hex`, fully qualified, no `$ORIGIN`, no repeated line, the
/// same bytes on every run and with `--out`; exactly the records `danekit tlsa` computes for
/// each service; and BIND's `named-checkzone` reads back the same records, and Knot's
/// `kzonecheck` accepts them, under a stub SOA/NS.
#[test]
fn zone_command_output_loads_in_named_checkzone_and_kzonecheck() {
    let Some(checkzone) = require_tool("named-checkzone", "bind9-utils") else {
        return;
    };
    let Some(kzonecheck) = require_tool("kzonecheck", "knot-dnssecutils") else {
        return;
    };
    let dir = TempDir::new("zone-command");
    let (file, expected) = relative_services(dir.path());
    let output = danekit_zone_from_root(&file, &[]);
    assert_eq!(
        danekit_zone_from_root(&file, &["-o", "zone"]),
        output,
        "-o zone is the default"
    );
    assert_eq!(
        danekit_zone_from_root(&file, &[]),
        output,
        "the output is byte-stable"
    );
    let out_file = dir.path().join("out.zone");
    danekit_zone_from_root(&file, &["--out", out_file.to_str().expect("UTF-8 path")]);
    assert_eq!(
        std::fs::read_to_string(&out_file).expect("--out file"),
        output,
        "--out writes what stdout shows"
    );

    let lines: Vec<&str> = output.lines().collect();
    for line in &lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(
            fields.len() == 8
                && fields[0].ends_with('.')
                && fields[1].parse::<u32>().is_ok()
                && fields[2] == "IN"
                && fields[3] == "TLSA",
            "not an `OWNER TTL IN TLSA U S M hex` line: {line:?}\n{output}"
        );
    }
    let unique: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(unique.len(), lines.len(), "a line repeats:\n{output}");
    let written = tlsa_set(&output);
    assert_eq!(written.len(), 7, "records:\n{output}");
    assert_eq!(written, expected, "danekit zone -o zone:\n{output}");

    let zone = write_zone(dir.path(), &output);
    let zone_arg = zone.to_str().expect("UTF-8 path");
    let dump = run_ok(
        &checkzone,
        &["-D", "-o", "-", "example.test", zone_arg],
        None,
    );
    assert_eq!(
        tlsa_set(&String::from_utf8_lossy(&dump)),
        written,
        "BIND read other records than danekit zone wrote"
    );
    let out = run(&kzonecheck, &["-o", "example.test.", zone_arg], None);
    assert!(
        out.status.success(),
        "kzonecheck refused danekit zone's output:\n{}{}\n{output}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
