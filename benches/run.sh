#!/usr/bin/env bash
# danekit benchmarks: the batch benchmarks (cargo bench: TLSA computation; offline DNSSEC
# validation of a signed MX + TLSA chain; the fan-out of `danekit verify` against local mail
# servers; `danekit survey` at scale; logstats on a generated Postfix log) and the wall time
# of one process, compared in the same run with GnuTLS danetool, ldns-dane and an openssl
# pipeline when they are installed.
# DANEKIT_BENCH_QUICK=1 for a short run (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
quick="${DANEKIT_BENCH_QUICK:-}"
runs=200; [ -n "$quick" ] && runs=30

cargo bench --locked --quiet --bench tlsa_batch 2>/dev/null
cargo bench --locked --quiet --bench dnssec_chain 2>/dev/null
# P3: `danekit verify` fan-out over 3 MX hosts x 2 addresses with a 200 ms SMTP greeting delay
# (whole domain against the slowest single probe, target <= 1.3), and --ports with 5 ports.
cargo bench --locked --quiet --bench verify_fanout 2>/dev/null
# P4: `danekit survey` over 10,000 generated domains (1,000 quick) against the in-test DNS and
# mail servers: domains per second and peak RSS (targets >= 200/s, <= 100 MB), flat memory.
cargo bench --locked --quiet --bench survey_scale 2>/dev/null
bin="${CARGO_TARGET_DIR:-target}/release/danekit"
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

# Hostile inputs: each must end with exit 2 within a second and under 50 MB. Wall time and
# peak resident memory of one process each (python3's resource module reads the child's peak).
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
truncate -s 1G "$scratch/huge.pem"
for _ in $(seq 20000); do cat "$pki/leaf-p256.pem"; done >"$scratch/bundle-20000.pem"
hostile() {
    local name="$1"; shift
    python3 - "$name" "$@" <<'PY'
import resource, subprocess, sys, time
name, args = sys.argv[1], sys.argv[2:]
stdin = None
if args[-1] == "<zero":
    args, stdin = args[:-1], open("/dev/zero", "rb")
t = time.monotonic()
code = subprocess.run(args, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = (time.monotonic() - t) * 1e3
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("measure: %-34s exit %d  %8.1f ms  peak %6.1f MB" % (name, code, wall, rss))
PY
}
hostile "1 GiB sparse file" "$bin" tlsa "$scratch/huge.pem"
hostile "/dev/zero as a file" "$bin" tlsa /dev/zero
hostile "/dev/zero on stdin" "$bin" tlsa - "<zero"
hostile "20,000 certificates in one PEM" "$bin" tlsa "$scratch/bundle-20000.pem"

# --server against a local `openssl s_server` (implicit TLS, P-256 chain): all key types (three
# handshakes, two refused) and one, against `openssl s_client` fetching the chain once.
port=$((20000 + $$ % 10000))
openssl s_server -quiet -accept "127.0.0.1:$port" -cert "$pki/leaf-p256.pem" \
    -key "$pki/leaf-p256.key.pem" -cert_chain "$pki/int-ca.pem" </dev/null >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
if kill -0 "$server" 2>/dev/null; then
    time_cmd "danekit --server (all key types)" "$bin tlsa --server 127.0.0.1:$port --starttls none -q"
    time_cmd "danekit --server --key-type ecdsa" "$bin tlsa --server 127.0.0.1:$port --starttls none --key-type ecdsa -q"
    time_cmd "openssl s_client -showcerts" "sh -c 'openssl s_client -connect 127.0.0.1:$port -showcerts </dev/null >/dev/null 2>&1'"
else
    echo "server: openssl s_server did not start on 127.0.0.1:$port; probe timings skipped"
fi

# `danekit zone` on 1,000 services × 3 ports (target: under 0.5 s and 50 MB).
services="$scratch/services-1000.yaml"
{
    echo "zone: example.test."
    echo 'records: ["3 1 1", "2 1 1"]'
    echo "services:"
    for i in $(seq 1000); do
        printf '  - host: mx%d\n    ports: [25, 465, 587]\n    cert: %s\n    next: %s\n' \
            "$i" "$PWD/$pki/leaf-p256.fullchain.pem" "$PWD/$pki/leaf-p384.pub.pem"
    done
} >"$services"
hostile "zone: 1,000 services x 3 ports" "$bin" zone "$services" --out "$scratch/out.zone"
echo "zone: $(wc -l <"$scratch/out.zone") records written"

# `danekit logstats` (P4) on a generated Postfix log of about 1 GB (100 MB quick), plain and
# gzip: MB/s and peak resident memory (target: at least 200 MB/s, memory flat). Then a stream
# without line breaks on stdin, refused after 1 GiB.
cargo bench --locked --quiet --bench logstats 2>/dev/null
hostile "logstats: /dev/zero on stdin" "$bin" logstats - "<zero"

# P2 online: `danekit dnssec` against delv through Unbound over a knotd-served signed hierarchy
# on 127.0.0.0/8 (benches/dnssec_online.sh).
online_missing=
for tool in knotd unbound unbound-control delv dig dnssec-keygen dnssec-signzone dnssec-dsfromkey jq; do
    command -v "$tool" >/dev/null 2>&1 || online_missing="$online_missing $tool"
done
if [ -n "$online_missing" ]; then
    echo "skipped: P2 online (dnssec_online.sh): not installed:$online_missing"
else
    online_rounds=5; [ -n "$quick" ] && online_rounds=2
    DANEKIT_ONLINE_ROUNDS=$online_rounds bash benches/dnssec_online.sh
fi
