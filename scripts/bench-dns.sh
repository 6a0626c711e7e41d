#!/usr/bin/env bash
# DNS benchmark: mailbeacon and NSD (response-rate limiting off) serving the same zone in one run.
# Each server is pinned to CPU 0, dnsperf to CPU 1. Prints qps, server CPU time per query, and the
# ratios. Usage: scripts/bench-dns.sh [SECONDS]   (needs dnsperf, nsd; builds a release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/mailbeacon
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
config=config/mailbeacon.toml
"$bin" records -c "$config" --domain example.test > "$tmp/example.test.zone"

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

cat > "$tmp/nsd.conf" <<C
server:
  ip-address: 127.0.0.1@5391
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

# utime + stime of every process listed (NSD forks a server process and xfrd).
# The command name in /proc/PID/stat may contain spaces ("nsd: server 1"): cut it off first.
cpu_ticks() { local t=0 p; for p in $1; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo "$t"; }

run() { # name pid port
  local name=$1 pids=$2 port=$3
  local before after qps
  before=$(cpu_ticks "$pids")
  qps=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$tmp/queries" -l "$secs" -c 4 -q 100 2>/dev/null | awk '/Queries per second/ {print $4}')
  after=$(cpu_ticks "$pids")
  local hz; hz=$(getconf CLK_TCK)
  local us; us=$(awk -v t=$((after - before)) -v hz="$hz" -v q="$qps" -v s="$secs" 'BEGIN { printf "%.2f", t / hz * 1e6 / (q * s) }')
  echo "$name $qps $us"
}

taskset -c 0 nsd -d -c "$tmp/nsd.conf" >/dev/null 2>&1 &
nsd_pid=$!
taskset -c 0 "$bin" serve -c "$config" --dns 127.0.0.1:5392 --http 127.0.0.1:0 --https 127.0.0.1:0 --ready-file "$tmp/ready" 2>/dev/null &
mb_pid=$!
for _ in $(seq 100); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
sleep 0.5
nsd_pids=$(pgrep -f "$tmp/nsd.conf" | tr '\n' ' ')

read -r _ nsd_qps nsd_us < <(run nsd "$nsd_pids" 5391)
read -r _ mb_qps mb_us < <(run mailbeacon "$mb_pid" 5392)
echo "server      qps        CPU µs/query"
printf "nsd         %-10s %s\n" "$nsd_qps" "$nsd_us"
printf "mailbeacon  %-10s %s\n" "$mb_qps" "$mb_us"
awk -v a="$mb_qps" -v b="$nsd_qps" -v c="$mb_us" -v d="$nsd_us" 'BEGIN { printf "ratio: %.2fx NSD qps, %.2fx NSD CPU per query\n", a / b, c / d }'
