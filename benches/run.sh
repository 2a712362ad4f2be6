#!/usr/bin/env bash
# danekit benchmarks: the batch benchmark (cargo bench) and the wall time of one process,
# compared in the same run with GnuTLS danetool, ldns-dane and an openssl pipeline when they
# are installed. DANEKIT_BENCH_QUICK=1 for a short run (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
quick="${DANEKIT_BENCH_QUICK:-}"
runs=200; [ -n "$quick" ] && runs=30

cargo bench --locked --quiet --bench tlsa_batch 2>/dev/null
bin=target/release/danekit
cargo build --locked --release --quiet
pki=tests/fixtures/pki
cert=$pki/leaf-p256.pem

# Mean wall time in ms of a command over $runs runs (hyperfine when present).
time_cmd() {
    local name="$1"; shift
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine -N --warmup 5 --runs "$runs" --export-json /tmp/danekit-bench.json "$*" >/dev/null 2>&1 \
            || hyperfine --warmup 5 --runs "$runs" --export-json /tmp/danekit-bench.json "$*" >/dev/null 2>&1
        python3 -c 'import json;r=json.load(open("/tmp/danekit-bench.json"))["results"][0];print("%.3f %.3f"%(r["mean"]*1e3,r["stddev"]*1e3))' \
            | { read -r mean sd; printf 'process: %-34s %8s ms  (sd %s ms, %s runs)\n' "$name" "$mean" "$sd" "$runs"; echo "$mean" >"/tmp/danekit-bench-$name"; }
    else
        local start end
        start=$(date +%s%N)
        for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1; done
        end=$(date +%s%N)
        local mean
        mean=$(python3 -c "print('%.3f' % (($end-$start)/1e6/$runs))")
        printf 'process: %-34s %8s ms  (%s runs, no hyperfine)\n' "$name" "$mean" "$runs"
        echo "$mean" >"/tmp/danekit-bench-$name"
    fi
}

time_cmd danekit "$bin tlsa $cert"
if command -v danetool >/dev/null 2>&1; then
    time_cmd danetool "danetool --tlsa-rr --load-certificate $cert --host mail.example.test --port 25"
    python3 -c "d=float(open('/tmp/danekit-bench-danekit').read());g=float(open('/tmp/danekit-bench-danetool').read());print('process: danetool / danekit ratio            %8.2f' % (g/d))"
else
    echo "process: danetool not installed (apt-get install gnutls-bin)"
fi
if command -v ldns-dane >/dev/null 2>&1; then
    # Without a CA store to load, as danekit loads none; with the system store it takes ~60 ms.
    time_cmd ldns-dane "env SSL_CERT_FILE=/dev/null SSL_CERT_DIR= ldns-dane -n -c $cert create mail.example.test 25 3 1 1"
fi
time_cmd openssl-pipeline "sh -c 'openssl x509 -in $cert -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -hex'"
