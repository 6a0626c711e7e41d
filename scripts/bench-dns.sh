#!/usr/bin/env bash
# DNS benchmark: mailbeacon and NSD (response-rate limiting off) serving the same zone in one run,
# each server pinned to CPU 0 and the load generator to CPU 1, in alternating rounds. Prints, per
# generator, the median qps, the median server CPU time per answered query, and the median of the
# per-round ratios (mailbeacon / NSD).
#
# Two generators, because they measure different things:
#   kxdpgun  (Knot's AF_XDP generator) offers far more queries than one core can answer, so both
#            servers run at 100% CPU and qps is their capacity. It needs root: the servers run in a
#            network namespace behind a veth pair (XDP does not work on loopback).
#            It runs twice: plain queries, and the same queries as validating resolvers send
#            them, with EDNS and the DO bit (row "kxdpgun-DO").
#   dnsperf  (the usual tool) over the same path; on this 2-core box it tops out near 110k-140k qps
#            from one core, below either server's capacity, so its qps mostly measures dnsperf; its
#            CPU-per-query column still compares the servers.
# Without root only the dnsperf rounds run, over loopback.
#
# With SIGNED=1 the zone is DNSSEC-signed (dnssec = true), the peer is Knot serving mailbeacon's
# signed zone as transferred by AXFR (pre-signed: Knot serves it as it is), and every query carries
# the DO bit, as validating resolvers send them (kxdpgun-DO and dnsperf -D).
#
# Usage: [SIGNED=1] [PEER=nsd|knot] scripts/bench-dns.sh [SECONDS] [ROUNDS]
# Needs: nsd or knotd, dnsperf, and for the capacity rounds kxdpgun (knot-dnsutils) and iproute2.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-5}
signed=${SIGNED:-0}
if [ "$signed" = 1 ]; then peer=${PEER:-knot}; else peer=${PEER:-nsd}; fi
cargo build --release --quiet
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/mailbeacon")
tmp=$(mktemp -d)
ns=mbbench$$
netns=()
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    if [ ${#netns[@]} -gt 0 ]; then
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
        sleep 0.2
        ip netns del "$ns" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
# The default configuration with rate limiting off: the load comes from one address, and NSD
# runs with `rrl-ratelimit: 0` too (limiting on for all would measure the limiter, not the server).
config=$tmp/mailbeacon.toml
sed 's/^\[server\]$/[server]\nrrl = { rate = 0 }/' config/mailbeacon.toml > "$config"
if [ "$signed" = 1 ]; then
    printf '\n[defaults]\ndnssec = true\naxfr = ["0.0.0.0/0"]\n' >> "$config"
else
    "$bin" records -c "$config" --domain example.test > "$tmp/example.test.zone"
fi

# The query mix: what clients ask during autoconfiguration, plus a negative answer.
cat > "$tmp/queries" <<'Q'
example.test MX
example.test SOA
example.test NS
example.test TXT
autoconfig.example.test A
autoconfig.example.test AAAA
autodiscover.example.test A
_autodiscover._tcp.example.test SRV
_imaps._tcp.example.test SRV
_imap._tcp.example.test SRV
_pop3s._tcp.example.test SRV
_pop3._tcp.example.test SRV
_submissions._tcp.example.test SRV
_submission._tcp.example.test SRV
mail.example.test A
mail.example.test AAAA
_mta-sts.example.test TXT
_dmarc.example.test TXT
www.example.test A
mta-sts.example.test AAAA
Q

# As validating resolvers send them: EDNS with the DO bit (kxdpgun's `D` flag).
sed 's/$/ D/' "$tmp/queries" > "$tmp/queries-do"

# Where the servers listen: a veth pair into a namespace when we can make one, else loopback.
if [ "$(id -u)" = 0 ] && command -v kxdpgun >/dev/null && ip netns add "$ns" 2>/dev/null; then
    netns=(ip netns exec "$ns")
    ip link add "${ns}a" type veth peer name "${ns}b"
    ip link set "${ns}b" netns "$ns"
    ip addr add 10.253.0.1/24 dev "${ns}a"
    ip link set "${ns}a" up
    "${netns[@]}" ip addr add 10.253.0.2/24 dev "${ns}b"
    "${netns[@]}" ip link set "${ns}b" up
    "${netns[@]}" ip link set lo up
    server=10.253.0.2
    remote_mac=$("${netns[@]}" cat "/sys/class/net/${ns}b/address")
else
    echo "not root or no kxdpgun: dnsperf rounds over loopback only" >&2
    server=127.0.0.1
fi

"${netns[@]}" taskset -c 0 "$bin" serve -c "$config" --dns "$server:5392" \
    --http 127.0.0.1:0 --https 127.0.0.1:0 --ready-file "$tmp/ready" 2>/dev/null &
for _ in $(seq 100); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
sleep 0.5
if [ "$signed" = 1 ]; then
    # The peer serves exactly the signed zone mailbeacon serves: its AXFR.
    "${netns[@]}" kdig @"$server" -p 5392 example.test AXFR +nocomments +nostats +noquestion \
        > "$tmp/example.test.zone"
fi

case $peer in
nsd)
    cat > "$tmp/nsd.conf" <<C
server:
  ip-address: $server@5391
  server-count: 1
  zonesdir: "$tmp"
  database: ""
  zonelistfile: "$tmp/zone.list"
  pidfile: "$tmp/nsd.pid"
  xfrdfile: "$tmp/xfrd.state"
  username: ""
  rrl-ratelimit: 0
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: example.test
  zonefile: example.test.zone
C
    "${netns[@]}" taskset -c 0 nsd -d -c "$tmp/nsd.conf" >/dev/null 2>&1 &
    peer_pattern="nsd -d -c $tmp/nsd.conf"
    ;;
knot)
    # One UDP worker, like NSD's server-count 1 and mailbeacon pinned to one core; no RRL module.
    cat > "$tmp/knot.conf" <<C
server:
  listen: $server@5391
  rundir: $tmp
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: $tmp/knotdb
template:
  - id: default
    storage: $tmp
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
zone:
  - domain: example.test
    file: $tmp/example.test.zone
C
    "${netns[@]}" taskset -c 0 knotd -c "$tmp/knot.conf" >/dev/null 2>&1 &
    peer_pattern="knotd -c $tmp/knot.conf"
    ;;
*) echo "PEER must be nsd or knot" >&2; exit 2 ;;
esac
sleep 1
# NSD forks a server process and xfrd; all of their CPU time counts.
nsd_pids=$(pgrep -f "$peer_pattern" | tr '\n' ' ')
mb_pids=$(pgrep -f "$bin serve -c $config --dns $server:5392" | tr '\n' ' ')
[ -n "$nsd_pids" ] && [ -n "$mb_pids" ] || { echo "a server did not start" >&2; exit 1; }

# utime + stime of every process listed. The command name in /proc/PID/stat may contain spaces
# ("nsd: server 1"): cut it off first.
cpu_ticks() { local t=0 p; for p in $1; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo "$t"; }
hz=$(getconf CLK_TCK)

# One round against one server: prints "answered-queries cpu-ticks". kxdpgun drops the replies
# in its XDP program (-r) rather than copying each to its own ring: the kernel runs that receive
# work on the server's core (veth delivers in the sender's context), and it is the generator's
# cost, not the server's. Replies are counted on the server's side of the veth instead.
kxdpgun_round() { # port pids
    local before after sent_before sent_after
    sent_before=$(replies_sent)
    before=$(cpu_ticks "$2")
    kxdpgun -t "$secs" -Q 1000000 -F 1 -r -i "$tmp/$mix" -p "$1" -I "${ns}a" \
        -R "$remote_mac" "$server" >/dev/null 2>&1
    after=$(cpu_ticks "$2")
    sent_after=$(replies_sent)
    echo "$((sent_after - sent_before)) $((after - before))"
}
replies_sent() { "${netns[@]}" cat "/sys/class/net/${ns}b/statistics/tx_packets"; }
dnsperf_round() { # port
    local before after qps
    before=$(cpu_ticks "$2")
    qps=$(taskset -c 1 dnsperf -s "$server" -p "$1" -d "$tmp/queries" -l "$secs" -c 4 -q 100 \
        ${dnsperf_do:+-D} 2>/dev/null |
        awk '/Queries per second/ {print $4}')
    after=$(cpu_ticks "$2")
    awk -v q="${qps:-0}" -v s="$secs" -v t=$((after - before)) 'BEGIN { printf "%d %d\n", q * s, t }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Alternating rounds, so that a slow spell of this shared machine hits both servers alike.
bench() { # generator [query file]
    local gen=$1 r nq nt mq mt
    local label=$gen${2:+-DO}
    mix=${2:-queries}
    : > "$tmp/$label.rounds"
    for r in $(seq "$rounds"); do
        read -r nq nt < <("${gen}_round" 5391 "$nsd_pids")
        read -r mq mt < <("${gen}_round" 5392 "$mb_pids")
        awk -v nq="$nq" -v nt="$nt" -v mq="$mq" -v mt="$mt" -v s="$secs" -v hz="$hz" -v r="$r" 'BEGIN {
            nu = nt / hz * 1e6 / nq; mu = mt / hz * 1e6 / mq
            printf "%d %.0f %.2f %.0f %.2f %.3f %.3f\n", r, nq / s, nu, mq / s, mu, mq / nq, mu / nu }' \
            | tee -a "$tmp/$label.rounds" | awk -v g="$label" -v p="$peer" '{ printf "%s round %d: %s %s qps %s µs, mailbeacon %s qps %s µs\n", g, $1, p, $2, $3, $4, $5 }'
    done
    local col="$tmp/$label.rounds"
    {
        printf "%-11s %-11s %-8.0f %s\n" "$label" "$peer" "$(cut -d' ' -f2 "$col" | median)" "$(cut -d' ' -f3 "$col" | median)"
        printf "%-11s mailbeacon  %-8.0f %s\n" "$label" "$(cut -d' ' -f4 "$col" | median)" "$(cut -d' ' -f5 "$col" | median)"
        printf "%-11s ratio: %.2fx $peer qps, %.2fx $peer CPU per query (medians of %d rounds of %ss)\n" "$label" \
            "$(cut -d' ' -f6 "$col" | median)" "$(cut -d' ' -f7 "$col" | median)" "$rounds" "$secs"
    } >> "$tmp/summary"
}

if [ "$signed" = 1 ]; then
    # A signed zone is asked with the DO bit; plain queries would measure an unsigned answer.
    [ ${#netns[@]} -gt 0 ] && bench kxdpgun queries-do
    dnsperf_do=1 bench dnsperf
else
    if [ ${#netns[@]} -gt 0 ]; then
        bench kxdpgun
        bench kxdpgun queries-do
    fi
    bench dnsperf
fi
echo
echo "generator   server      qps      CPU µs/query (medians)"
cat "$tmp/summary"
