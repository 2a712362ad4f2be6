//! Batch benchmark of TLSA computation: `3 1 1`, `3 0 1` and `3 1 2` for every fixture
//! certificate, per record, with and without reading the PEM; `3 1 1` from every key, public
//! key and CSR fixture (each key checked and put in canonical form); and reading a bundle of
//! 100 certificates out of order, the most an input may hold. Run with `cargo bench --bench
//! tlsa_batch`; `DANEKIT_BENCH_QUICK=1` runs fewer rounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use danekit::pki::{self, Input};
use danekit::tlsa::{CaChoice, ParamSet, compute};

/// The fixture files whose names `keep` accepts, read, in name order.
fn fixtures_where(keep: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).expect("read fixture");
            (n, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Runs `f` (which computes `per_call` records) for about `budget`, in rounds, and returns the
/// median time per record over the rounds.
fn measure(budget: Duration, per_call: usize, mut f: impl FnMut()) -> Duration {
    let mut per_round = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..per_round {
            f();
        }
        if t.elapsed() > Duration::from_millis(5) {
            break;
        }
        per_round *= 2;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 5 {
        let t = Instant::now();
        for _ in 0..per_round {
            f();
        }
        samples.push(t.elapsed() / u32::try_from(per_round * per_call).unwrap_or(u32::MAX));
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// Single certificates.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    fixtures_where(|n| {
        n.ends_with(".pem")
            && !n.contains(".key")
            && !n.contains(".pub")
            && !n.contains(".csr")
            && !n.contains("chain")
    })
}

/// Keys, public keys and CSRs (not the encrypted keys, which are refused).
fn key_fixtures() -> Vec<(String, Vec<u8>)> {
    fixtures_where(|n| {
        (n.contains(".key") || n.contains(".pub") || n.contains(".csr"))
            && !n.starts_with("encrypted")
    })
}

fn main() {
    let quick = std::env::var_os("DANEKIT_BENCH_QUICK").is_some();
    let budget = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(3)
    };
    let files = fixtures();
    let params: Vec<ParamSet> = ["3 1 1", "3 0 1", "3 1 2"]
        .iter()
        .map(|p| p.parse().expect("param set"))
        .collect();
    let inputs: Vec<Input> = files
        .iter()
        .map(|(n, b)| pki::parse_input(n, b).expect("fixture parses"))
        .collect();
    let records = inputs.len() * params.len();

    let compute_only = measure(budget, records, || {
        for input in &inputs {
            for &p in &params {
                black_box(compute(input.material(), p, CaChoice::Issuer).expect("compute"));
            }
        }
    });
    let with_parse = measure(budget, records, || {
        for (n, b) in &files {
            let input = pki::parse_input(n, b).expect("parse");
            for &p in &params {
                black_box(compute(input.material(), p, CaChoice::Issuer).expect("compute"));
            }
        }
    });
    println!(
        "tlsa_batch: {} certificates x {} parameter sets = {records} records per batch",
        inputs.len(),
        params.len()
    );
    println!(
        "tlsa_batch: compute only      {:>8.2} us/record",
        compute_only.as_secs_f64() * 1e6
    );
    println!(
        "tlsa_batch: parse PEM+compute {:>8.2} us/record",
        with_parse.as_secs_f64() * 1e6
    );

    let keys = key_fixtures();
    let key_params: ParamSet = "3 1 1".parse().expect("param set");
    let key_records = measure(budget, keys.len(), || {
        for (n, b) in &keys {
            let input = pki::parse_input(n, b).expect("parse key");
            black_box(compute(input.material(), key_params, CaChoice::Issuer).expect("compute"));
        }
    });
    println!(
        "tlsa_batch: keys, public keys, CSRs ({}) {:>8.2} us/record",
        keys.len(),
        key_records.as_secs_f64() * 1e6
    );

    // The largest input allowed: 100 certificates, the leaf last, the rest its issuer and
    // unrelated certificates, so that ordering has to search.
    let leaf = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki/leaf-p256.pem"),
    )
    .expect("leaf");
    let others: String = files
        .iter()
        .filter(|(n, _)| n != "leaf-p256.pem")
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect::<Vec<_>>()
        .concat();
    let mut bundle = String::new();
    while bundle.matches("BEGIN CERTIFICATE").count() + others.matches("BEGIN CERTIFICATE").count()
        < 100
    {
        bundle.push_str(&leaf);
    }
    bundle.push_str(&others);
    let count = bundle.matches("BEGIN CERTIFICATE").count();
    let bundle_time = measure(budget, 1, || {
        black_box(pki::parse_input("bundle.pem", bundle.as_bytes()).expect("bundle"));
    });
    println!(
        "tlsa_batch: read a bundle of {count} certificates {:>8.2} us/bundle",
        bundle_time.as_secs_f64() * 1e6
    );
}
