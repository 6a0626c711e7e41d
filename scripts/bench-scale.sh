#!/usr/bin/env bash
# Scale benchmark: N domains, each with one parked alias (2N zones), MX 10/20, SPF, DMARC, two
# name servers, TLS off so that only DNS and HTTP answers count. For mailbeacon and for NSD loading
# the same zones from `mailbeacon records`, in one run:
#   - exec → first answer (a SOA query of the last zone answered),
#   - resident memory once ready (NSD: every process), and for mailbeacon again after the query load
#   - `mailbeacon check` time,
#   - SIGHUP → the first answer with one domain's SPF record changed (both servers reload; for
#     mailbeacon also with the domains in one included file each, as a hosting panel writes them;
#     the poller is started before the signal, so its start-up is not counted),
#   - with dnsperf installed: UDP queries per second and server CPU per query, the queries spread
#     over every zone (MX, TXT, SRV, A of autoconfig.), 5 s per server; dnsperf is client-bound on
#     a 2-core box, so compare sizes with each other rather than with the DNS benchmark.
# Usage: bash scripts/bench-scale.sh [N…]   (default: 100 1000 10000). Needs nsd and python3.
# Everything happens under a temporary directory; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100 1000 10000}")
[ $# -eq 0 ] && sizes=(100 1000 10000)
cargo build --release --quiet
bin=$PWD/target/release/mailbeacon
tmp=$(mktemp -d)
cleanup() {
    pkill -f "$tmp/" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
# cpu_ticks PATTERN: CPU time (clock ticks) of the processes whose command line matches, each with
# that of its reaped children (utime+stime+cutime+cstime), the processes looked up anew each time:
# NSD replaces its server process, whose time then shows in its parent's cutime/cstime.
cpu_ticks() {
    local t=0 p v
    for p in $(pgrep -f "$1"); do
        v=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
# udp_load PORT PATTERN: "QPS µs/query" from 5 s of dnsperf over $dir/queries ("- -" without
# dnsperf); PATTERN finds the server's processes (see cpu_ticks).
udp_load() {
    command -v dnsperf >/dev/null || { echo "- -"; return; }
    local before after out qps done_q
    before=$(cpu_ticks "$2")
    out=$(dnsperf -s 127.0.0.1 -p "$1" -d "$dir/queries" -l 5 -c 4 -q 200 2>/dev/null)
    after=$(cpu_ticks "$2")
    qps=$(echo "$out" | awk '/Queries per second/ {print int($4)}')
    done_q=$(echo "$out" | awk '/Queries completed/ {print $3}')
    [ -n "$qps" ] && [ "${done_q:-0}" -gt 0 ] || { echo "- -"; return; }
    echo "$qps $(echo "scale=2; ($after - $before) * 1000000 / $(getconf CLK_TCK) / $done_q" | bc)"
}
rss_kb() { local t=0 p; for p in $1; do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }
# poll_dns SERVER PORT NAME QTYPE [TEXT]: asks NAME/QTYPE over UDP every 5 ms until an answer with
# records comes back (containing TEXT, when given).
poll_dns() {
    python3 - "$@" <<'EOF2'
import socket, struct, sys, time
host, port, name, qtype = sys.argv[1], int(sys.argv[2]), sys.argv[3], {"SOA": 6, "TXT": 16}[sys.argv[4]]
text = sys.argv[5].encode() if len(sys.argv) > 5 else b""
q = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 0) + b"".join(
    bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", qtype, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.005)
end = time.time() + 600
while time.time() < end:
    try:
        s.sendto(q, (host, port))
        r = s.recv(4096)
        if r[3] & 0x0F == 0 and struct.unpack(">H", r[6:8])[0] > 0 and text in r:
            sys.exit(0)
    except OSError:
        time.sleep(0.005)
sys.exit(1)
EOF2
}

# reload_time PID PORT NAME TEXT: sends PID a SIGHUP and asks NAME/TXT over UDP every 2 ms until
# an answer containing TEXT comes back; prints the seconds in between (the poller is running
# before the signal, so its own start-up is not counted).
reload_time() {
    python3 - "$@" <<'EOF2'
import os, signal, socket, struct, sys, time
pid, port, name, text = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
q = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 0) + b"".join(
    bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 16, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.002)
t0 = time.monotonic()
os.kill(pid, signal.SIGHUP)
while time.monotonic() - t0 < 600:
    try:
        s.sendto(q, ("127.0.0.1", port))
        r = s.recv(4096)
        if r[3] & 0x0F == 0 and text in r:
            print(f"{time.monotonic() - t0:.3f}")
            sys.exit(0)
    except OSError:
        pass
sys.exit(1)
EOF2
}

printf '| domains (zones) | mailbeacon ready | mailbeacon RSS | mailbeacon SIGHUP → new answer (one file; one file per domain) | NSD ready | NSD RSS | NSD SIGHUP → new answer | `check` | mailbeacon UDP qps, CPU µs/query, RSS after | NSD UDP qps, CPU µs/query |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for n in "${sizes[@]}"; do
    dir=$tmp/$n
    mkdir -p "$dir/zones"
    python3 - "$n" "$dir/mailbeacon.toml" <<'EOF'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
lines = ['[server]', 'ipv4 = ["192.0.2.10"]', 'https = []', 'rrl = { rate = 0 }', '[tls]', 'mode = "off"',
         '[service.mail]', 'incoming = [{ protocol = "imap", host = "mail.{domain}" }]',
         'outgoing = [{ host = "mail.{domain}", port = 587, security = "starttls" }]',
         '[defaults]', 'mx = ["10 mx1.{domain}", "20 mx2.{domain}"]', 'spf = "v=spf1 mx -all"',
         'dmarc = "v=DMARC1; p=none"', 'name_servers = ["ns1.{domain}", "ns2.{domain}"]',
         '[hosts]', '"ns2.{domain}" = ["198.51.100.53"]']
for i in range(n):
    lines.append(f'[[domain]]\nname = "customer{i}.example"\naliases = ["customer{i}-parked.example"]')
open(path, "w").write("\n".join(lines) + "\n")
EOF
    last="customer$((n - 1))-parked.example"
    t0=$(now)
    "$bin" check -c "$dir/mailbeacon.toml" >/dev/null 2>&1
    check_s=$(echo "$(now) - $t0" | bc)

    # NSD from the same records.
    "$bin" records -c "$dir/mailbeacon.toml" 2>/dev/null | awk -v d="$dir/zones" '
        /^\$ORIGIN / { if (f) close(f); z = $2; sub(/\.$/, "", z); f = d "/" z ".zone" } { print >> f }'
    {
        printf 'server:\n  ip-address: 127.0.0.1@5491\n  server-count: 1\n  zonesdir: "%s/zones"\n' "$dir"
        printf '  database: ""\n  zonelistfile: "%s/zone.list"\n  pidfile: "%s/nsd.pid"\n' "$dir" "$dir"
        printf '  xfrdfile: "%s/xfrd.state"\n  username: ""\n  rrl-ratelimit: 0\n  verbosity: 0\n' "$dir"
        printf 'remote-control:\n  control-enable: no\n'
        for f in "$dir"/zones/*.zone; do z=${f##*/}; z=${z%.zone}; printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z"; done
    } > "$dir/nsd.conf"
    t0=$(now)
    nsd -d -c "$dir/nsd.conf" >/dev/null 2>&1 &
    poll_dns 127.0.0.1 5491 "$last" SOA || { echo "NSD did not answer" >&2; exit 1; }
    nsd_ready=$(echo "$(now) - $t0" | bc)
    sleep 1
    nsd_pids=$(pgrep -f "nsd -d -c $dir/nsd.conf" | tr '\n' ' ')
    nsd_rss=$(rss_kb "$nsd_pids")
    # Queries spread over every zone, in random order (the same file for both servers).
    python3 - "$n" "$dir/queries" <<'EOF3'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
kinds = ["customer{i}.example MX", "customer{i}-parked.example TXT",
         "_imaps._tcp.customer{i}.example SRV", "autoconfig.customer{i}.example A"]
with open(path, "w") as f:
    for _ in range(200_000):
        f.write(rng.choice(kinds).format(i=rng.randrange(n)) + "\n")
EOF3
    read -r nsd_qps nsd_cpu <<< "$(udp_load 5491 "nsd -d -c $dir/nsd.conf")"
    # One domain edited: its SPF changes (and its serial, as an operator's tooling would).
    sed -i -e 's/"v=spf1 mx -all"/"v=spf1 a mx -all"/' -e '/IN\tSOA/ s/ \([0-9]*\) 86400/ 4000000000 86400/' \
        "$dir/zones/customer0.example.zone"
    nsd_reload=$(reload_time "$(cat "$dir/nsd.pid")" 5491 customer0.example "spf1 a mx") || { echo "NSD did not reload" >&2; exit 1; }
    pkill -f "nsd -d -c $dir/nsd.conf" || true

    t0=$(now)
    "$bin" serve -c "$dir/mailbeacon.toml" --dns 127.0.0.1:5492 --http 127.0.0.1:0 2>/dev/null &
    mb=$!
    poll_dns 127.0.0.1 5492 "$last" SOA || { echo "mailbeacon did not answer" >&2; exit 1; }
    mb_ready=$(echo "$(now) - $t0" | bc)
    sleep 1
    mb_rss=$(rss_kb "$mb")
    read -r mb_qps mb_cpu <<< "$(udp_load 5492 "$bin serve -c $dir/mailbeacon.toml")"
    # Answers are cached as they are asked: memory once every zone has been queried.
    mb_rss_loaded=$(rss_kb "$mb")
    sed -i '0,/^name = "customer0.example"/ s//name = "customer0.example"\nspf = "v=spf1 a mx -all"/' "$dir/mailbeacon.toml"
    mb_reload=$(reload_time "$mb" 5492 customer0.example "spf1 a mx") || { echo "mailbeacon did not reload" >&2; exit 1; }
    kill "$mb"; wait "$mb" 2>/dev/null || true

    # The same domains as a hosting panel writes them: one included file per customer.
    mkdir -p "$dir/inc/domains.d"
    awk '/^\[\[domain\]\]/ { exit } { print }' "$dir/mailbeacon.toml" > "$dir/inc/mailbeacon.toml"
    sed -i '1i include = ["domains.d/*.toml"]' "$dir/inc/mailbeacon.toml"
    python3 - "$n" "$dir/inc/domains.d" <<'EOF4'
import sys
n, d = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    with open(f"{d}/customer{i}.toml", "w") as f:
        f.write(f'[[domain]]\nname = "customer{i}.example"\naliases = ["customer{i}-parked.example"]\n')
EOF4
    "$bin" serve -c "$dir/inc/mailbeacon.toml" --dns 127.0.0.1:5493 --http 127.0.0.1:0 2>/dev/null &
    mb=$!
    poll_dns 127.0.0.1 5493 "$last" SOA || { echo "mailbeacon (include) did not answer" >&2; exit 1; }
    printf 'spf = "v=spf1 a mx -all"\n' >> "$dir/inc/domains.d/customer0.toml"
    inc_reload=$(reload_time "$mb" 5493 customer0.example "spf1 a mx") || { echo "mailbeacon (include) did not reload" >&2; exit 1; }
    kill "$mb"; wait "$mb" 2>/dev/null || true

    printf '| %s (%s) | %.2f s | %d MB | %.3f s; %.3f s | %.2f s | %d MB | %.3f s | %.2f s | %s, %s, %d MB | %s, %s |\n' "$n" "$((2 * n))" \
        "$mb_ready" "$((mb_rss / 1024))" "$mb_reload" "$inc_reload" "$nsd_ready" "$((nsd_rss / 1024))" "$nsd_reload" "$check_s" \
        "$mb_qps" "$mb_cpu" "$((mb_rss_loaded / 1024))" "$nsd_qps" "$nsd_cpu"
done
