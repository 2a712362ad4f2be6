//! Batch benchmark of TLSA computation: `3 1 1`, `3 0 1` and `3 1 2` for every fixture
//! certificate, per record, with and without reading the PEM. Run with `cargo bench --bench
//! tlsa_batch`; `DANEKIT_BENCH_QUICK=1` runs fewer rounds.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use danekit::pki::{self, Input};
use danekit::tlsa::{CaChoice, ParamSet, compute};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".pem")
                && !n.contains(".key")
                && !n.contains(".pub")
                && !n.contains(".csr")
                && !n.contains("chain")
        })
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
}
