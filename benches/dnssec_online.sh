#!/usr/bin/env bash
# P2 online: `danekit dnssec bench.test` against delv for the same 10 RRsets (the MX of
# bench.test., then A, AAAA and `_25._tcp` TLSA of mx1..mx3.bench.test.), both through one
# Unbound that resolves a signed hierarchy (., test., bench.test.) served by knotd, all on
# 127.0.0.0/8 and high ports, as tests/interop_dnssec.rs sets them up.
#
# For every algorithm (ECDSA P-256, then RSA-2048/SHA-256) and round: Unbound's cache is
# flushed (`flush_zone .`, `flush_infra all`, `flush_bogus`) and its counters reset, then
#   danekit: one `danekit dnssec bench.test --resolver U --trust-anchor root.ds -o json`;
#   delv:    one `delv @U -p P -a root.bind +root=. +cdflag NAME TYPE` per RRset (10 runs);
# each run once on the cold cache, then again at once on the warm one. Measured: wall time,
# queries the client sent to Unbound (`total.num.queries`), Unbound's own queries to knotd
# (`num.query.udpout` + `num.query.tcpout`), and for danekit the `queries` of its JSON.
# Prints the median of the rounds. Fails unless danekit says secure for all 10 RRsets and
# delv says "fully validated" for each.
#
#   benches/dnssec_online.sh            (DANEKIT_ONLINE_ROUNDS=N, default 5)
#
# Needs knotd, unbound, unbound-control, delv, dig, dnssec-keygen, dnssec-signzone,
# dnssec-dsfromkey, jq and cargo.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."

rounds=${DANEKIT_ONLINE_ROUNDS:-5}
algorithms=${DANEKIT_ONLINE_ALGORITHMS:-"ECDSAP256SHA256 RSASHA256"}

for tool in knotd unbound unbound-control delv dig dnssec-keygen dnssec-signzone \
    dnssec-dsfromkey jq cargo; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "dnssec_online: $tool is not installed" >&2
        exit 2
    fi
done

cargo build --locked --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/danekit"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d)
pids=$work/pids
mkdir -p "$pids"

# Stops the servers this script started (their PIDs are in $pids/), then removes $work.
stop_servers() {
    local f pid
    for f in "$pids"/*.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
}
cleanup() {
    stop_servers
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "dnssec_online: $*" >&2
    exit 1
}

NS=ns.nameservers.invalid.
HOSTS="mx1 mx2 mx3"

# ---------------------------------------------------------------------------------------------
# The hierarchy: dnssec-keygen + dnssec-signzone, NSEC, a KSK and a ZSK per zone.

apex() {
    printf '$TTL 3600\n%s SOA %s hostmaster.nameservers.invalid. 1 3600 900 604800 300\n%s NS %s\n' \
        "$1" "$NS" "$1" "$NS"
}

# keys DIR ZONE ALGORITHM
keys() {
    local bits=()
    [ "$3" = RSASHA256 ] && bits=(-b 2048)
    mkdir -p "$1"
    dnssec-keygen -q -K "$1" -a "$3" "${bits[@]}" -f KSK -n ZONE "$2" >/dev/null
    dnssec-keygen -q -K "$1" -a "$3" "${bits[@]}" -n ZONE "$2" >/dev/null
}

# ds DIR: the SHA-256 DS of the KSK in DIR.
ds() {
    local f
    for f in "$1"/K*.key; do
        if grep -q 'DNSKEY[[:space:]]*257 ' "$f"; then
            dnssec-dsfromkey -2 "$f"
            return
        fi
    done
    die "no KSK in $1"
}

# sign DIR ZONE IN OUT
sign() {
    (cd "$1" && dnssec-signzone -q -S -K "$1" -o "$2" -f "$4" "$3" >/dev/null)
}

# build OUT ALGORITHM: zones/{root,test,bench.test}.zone and anchors/root.{ds,bind}.
build() {
    local out=$1 alg=$2 i h
    mkdir -p "$out/src" "$out/zones" "$out/anchors"
    {
        apex bench.test.
        i=0
        for h in $HOSTS; do
            i=$((i + 1))
            echo "bench.test. MX $((i * 10)) $h.bench.test."
            echo "$h.bench.test. A 192.0.2.$i"
            echo "$h.bench.test. AAAA 2001:db8::$i"
            echo "_25._tcp.$h.bench.test. TLSA 3 1 1 $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        done
    } >"$out/src/bench.test.zone"
    keys "$out/keys/bench.test" bench.test. "$alg"
    sign "$out/keys/bench.test" bench.test. "$out/src/bench.test.zone" "$out/zones/bench.test.zone"

    { apex test.; echo "bench.test. NS $NS"; ds "$out/keys/bench.test"; } >"$out/src/test.zone"
    keys "$out/keys/test" test. "$alg"
    sign "$out/keys/test" test. "$out/src/test.zone" "$out/zones/test.zone"

    { apex .; echo "test. NS $NS"; ds "$out/keys/test"; } >"$out/src/root.zone"
    keys "$out/keys/root" . "$alg"
    sign "$out/keys/root" . "$out/src/root.zone" "$out/zones/root.zone"

    ds "$out/keys/root" | awk '$3 == "DS" { print $1, 3600, "IN", "DS", $4, $5, $6, $7 }' \
        >"$out/anchors/root.ds"
    awk '{ printf "trust-anchors {\n\t\".\" static-ds %s %s %s \"%s\";\n};\n", $5, $6, $7, $8 }' \
        "$out/anchors/root.ds" >"$out/anchors/root.bind"
    [ -s "$out/anchors/root.ds" ] || die "no root trust anchor"
}

# ---------------------------------------------------------------------------------------------
# Servers

# A random address of 127.0.0.0/8 other than 127.0.0.x, and a port above 20000.
random_addr() {
    echo "127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
}
random_port() {
    echo $((20000 + RANDOM % 40000))
}

# start_knot DIR ADDR PORT ZONESDIR
start_knot() {
    local dir=$1 z
    mkdir -p "$dir"
    {
        cat <<EOF
server:
    rundir: "$dir"
    pidfile: "$dir/knot.pid"
    listen: $2@$3
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: notice
database:
    storage: "$dir"
    journal-db: "$dir/journal"
    kasp-db: "$dir/kasp"
    timer-db: "$dir/timers"
template:
  - id: default
    storage: "$dir"
    dnssec-signing: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
EOF
        for z in root test bench.test; do
            if [ "$z" = root ]; then echo '  - domain: "."'; else echo "  - domain: \"$z.\""; fi
            echo "    file: \"$4/$z.zone\""
        done
    } >"$dir/knot.conf"
    knotd -c "$dir/knot.conf" >"$dir/knotd.log" 2>&1 &
    echo $! >"$pids/knotd.pid"
    local zone ok
    for _ in $(seq 100); do
        ok=1
        for zone in . test. bench.test.; do
            dig @"$2" -p "$3" "$zone" SOA +norec +time=1 +tries=1 2>/dev/null |
                grep -q 'flags: qr aa' || { ok=; break; }
        done
        [ -n "$ok" ] && return 0
        kill -0 "$(cat "$pids/knotd.pid")" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$dir/knotd.log" >&2
    return 1
}

# start_unbound DIR ADDR PORT KNOTADDR KNOTPORT ANCHOR
start_unbound() {
    local dir=$1 range zone
    mkdir -p "$dir"
    {
        cat <<EOF
server:
    verbosity: 1
    num-threads: 1
    interface: $2@$3
    port: $3
    do-ip4: yes
    do-ip6: no
    so-reuseport: no
    outgoing-range: 256
    access-control: 127.0.0.0/8 allow
    chroot: ""
    username: ""
    directory: "$dir"
    pidfile: "$dir/unbound.pid"
    do-daemonize: no
    use-syslog: no
    logfile: ""
    log-time-ascii: yes
    module-config: "validator iterator"
    trust-anchor-file: "$6"
    trust-anchor-signaling: no
    root-key-sentinel: no
    val-log-level: 2
    ede: yes
    do-not-query-localhost: no
    extended-statistics: yes
    statistics-cumulative: no
    msg-cache-size: 4m
    rrset-cache-size: 4m
    key-cache-size: 4m
    neg-cache-size: 1m
    local-zone: "test." nodefault
EOF
        for range in 0.0.0.0/2 64.0.0.0/3 96.0.0.0/4 112.0.0.0/5 120.0.0.0/6 124.0.0.0/7 \
            126.0.0.0/8 128.0.0.0/1; do
            echo "    do-not-query-address: $range"
        done
        cat <<EOF
remote-control:
    control-enable: yes
    control-interface: "$dir/unbound.ctl"
EOF
        for zone in . test. bench.test.; do
            printf 'stub-zone:\n    name: "%s"\n    stub-addr: %s@%s\n' "$zone" "$4" "$5"
        done
    } >"$dir/unbound.conf"
    unbound -d -c "$dir/unbound.conf" >"$dir/unbound.log" 2>&1 &
    echo $! >"$pids/unbound.pid"
    for _ in $(seq 100); do
        if unbound-control -c "$dir/unbound.conf" status >/dev/null 2>&1 &&
            dig @"$2" -p "$3" . SOA +time=2 +tries=1 2>/dev/null | grep -q 'flags: qr rd ra ad'; then
            return 0
        fi
        kill -0 "$(cat "$pids/unbound.pid")" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$dir/unbound.log" >&2
    return 1
}

uctl() {
    unbound-control -c "$ubdir/unbound.conf" "$@"
}

# Forgets every cached RRset, message, validated key, server state and bogus entry, and resets
# the counters (statistics-cumulative: no).
forget() {
    uctl flush_zone . >/dev/null
    uctl flush_infra all >/dev/null
    uctl flush_bogus >/dev/null
    uctl stats >/dev/null
}

# counters: "CLIENT UPSTREAM" since the last call, which resets them.
counters() {
    uctl stats | awk -F= '
        $1 == "total.num.queries" { c = $2 }
        $1 == "num.query.udpout" || $1 == "num.query.tcpout" { u += $2 }
        END { print c + 0, u + 0 }'
}

now_ns() {
    date +%s%N
}

# ---------------------------------------------------------------------------------------------
# The two clients. Each appends "WALL_MS CLIENT_QUERIES UPSTREAM_QUERIES [OWN_COUNT]" to FILE.

rrsets() {
    echo "bench.test. MX"
    local h
    for h in $HOSTS; do
        echo "$h.bench.test. A"
        echo "$h.bench.test. AAAA"
        echo "_25._tcp.$h.bench.test. TLSA"
    done
}

# run_danekit FILE
run_danekit() {
    local start end json own c u
    start=$(now_ns)
    json=$("$bin" dnssec bench.test --resolver "$uaddr:$uport" \
        --trust-anchor "$hier/anchors/root.ds" -o json 2>"$work/danekit.err") ||
        die "danekit dnssec failed: $(cat "$work/danekit.err")"
    end=$(now_ns)
    read -r c u < <(counters)
    [ "$(jq -r .verdict <<<"$json")" = secure ] || die "danekit's verdict is not secure: $json"
    local want got
    want=$(rrsets | sort)
    got=$(jq -r '.rrsets[] | select(.verdict == "secure" and .answer == "data") | "\(.name) \(.type)"' <<<"$json" | sort)
    [ "$want" = "$got" ] || die "danekit: secure RRsets differ from the 10 expected:
$got"
    own=$(jq -r .queries <<<"$json")
    echo "$(( (end - start) / 1000 )) $c $u $own" >>"$1"
}

# run_delv FILE
run_delv() {
    local start end total=0 name type out c u
    while read -r name type; do
        start=$(now_ns)
        out=$(timeout 60 delv @"$uaddr" -p "$uport" -a "$hier/anchors/root.bind" +root=. \
            +cdflag "$name" "$type" 2>&1) || die "delv $name $type failed: $out"
        end=$(now_ns)
        total=$((total + end - start))
        grep -q '^; fully validated' <<<"$out" || die "delv $name $type: not fully validated:
$out"
        if grep -q 'resolution failed\|unsigned answer' <<<"$out"; then
            die "delv $name $type: $out"
        fi
    done < <(rrsets)
    read -r c u < <(counters)
    echo "$((total / 1000)) $c $u" >>"$1"
}

# median FILE COLUMN
median() {
    awk -v col="$2" '{ print $col }' "$1" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ms() {
    awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'
}

# ---------------------------------------------------------------------------------------------

echo "dnssec_online: danekit $("$bin" --version 2>/dev/null | awk '{ print $NF }'), knotd \
$(knotd -V | awk '{ print $NF }'), unbound $(unbound -V | awk 'NR == 1 { print $2 }'), \
$(delv -v 2>&1 | head -1); $rounds rounds, median"

for alg in $algorithms; do
    hier=$work/$alg
    build "$hier" "$alg"
    started=
    for _ in 1 2 3 4 5; do
        kaddr=$(random_addr); kport=$(random_port)
        uaddr=$(random_addr); uport=$(random_port)
        [ "$kaddr" = "$uaddr" ] && continue
        ubdir=$hier/unbound
        if start_knot "$hier/knot" "$kaddr" "$kport" "$hier/zones"; then
            if start_unbound "$ubdir" "$uaddr" "$uport" "$kaddr" "$kport" \
                "$hier/anchors/root.ds"; then
                started=1
                break
            fi
        fi
        stop_servers
    done
    [ -n "$started" ] || die "$alg: knotd and unbound did not start"

    res=$work/results-$alg
    mkdir -p "$res"
    for _ in $(seq "$rounds"); do
        forget
        run_danekit "$res/danekit-cold"
        run_danekit "$res/danekit-warm"
        forget
        run_delv "$res/delv-cold"
        run_delv "$res/delv-warm"
    done
    stop_servers

    echo
    echo "$alg: 10 RRsets (MX, 3 x A, AAAA, _25._tcp TLSA), all secure for danekit and delv"
    printf '  %-22s %12s %18s %18s %14s\n' client "wall (ms)" "queries to Unbound" \
        "Unbound -> knotd" "JSON queries"
    for run in danekit-cold delv-cold danekit-warm delv-warm; do
        own=-
        [ "${run%-*}" = danekit ] && own=$(median "$res/$run" 4)
        printf '  %-22s %12s %18s %18s %14s\n' "$run" "$(ms "$(median "$res/$run" 1)")" \
            "$(median "$res/$run" 2)" "$(median "$res/$run" 3)" "$own"
    done
    for run in danekit-cold danekit-warm delv-cold delv-warm; do
        echo "  rounds $run (us, to Unbound, to knotd[, JSON]): $(tr '\n' ';' <"$res/$run")"
    done
done
