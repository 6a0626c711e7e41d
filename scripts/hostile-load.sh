#!/usr/bin/env bash
# Lock-out check under hostile load: while N hostile connections of one kind are held open against
# `mailbeacon serve` (each from its own loopback address, so per-address caps do not simply turn
# them away), a legitimate client must still be answered, over DNS/UDP, DNS/TCP and HTTP.
# Kinds: silent DNS/TCP connections, DNS/TCP clients that send queries and never read, silent
# HTTP connections, HTTP clients that send half a request head.
# Usage: bash scripts/hostile-load.sh [N]   (default 5000). Prints one table row per kind.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
cargo build --release --quiet
bin=$PWD/target/release/mailbeacon
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
ulimit -n "$(ulimit -Hn)"
"$bin" serve --dns 127.0.0.1:0 --http 127.0.0.1:0 --https 127.0.0.1:0 --ready-file "$tmp/ready" \
    >/dev/null 2>&1 &
for _ in $(seq 200); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
python3 - "$tmp/ready" "$n" <<'EOF'
import json, socket, struct, subprocess, sys, time

ready = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
dns = ready["dns"][0].rsplit(":", 1)
dns = (dns[0], int(dns[1]))
http = ready["http"][0].rsplit(":", 1)
http = (http[0], int(http[1]))

def query(name, qtype=6, ident=1):
    q = struct.pack(">HHHHHH", ident, 0, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return q + struct.pack(">HH", qtype, 1)

def legit():
    """Seconds for a UDP answer, a TCP answer and an HTTP answer, or None each on failure."""
    out = []
    t = time.time()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
        s.sendto(query("example.test"), dns); s.recv(4096); out.append(time.time() - t)
    except OSError:
        out.append(None)
    t = time.time()
    try:
        s = socket.create_connection(dns, timeout=3)
        q = query("example.test"); s.sendall(struct.pack(">H", len(q)) + q)
        ln = struct.unpack(">H", s.recv(2))[0]; s.recv(ln); out.append(time.time() - t); s.close()
    except OSError:
        out.append(None)
    t = time.time()
    try:
        s = socket.create_connection(http, timeout=3)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: autoconfig.example.test\r\nConnection: close\r\n\r\n")
        data = s.recv(100); out.append(time.time() - t if data.startswith(b"HTTP/1.1 200") else None)
    except OSError:
        out.append(None)
    return out

def hostile(kind, i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    # A different loopback source per connection: 127.1.x.y.
    s.bind((f"127.1.{i // 250}.{i % 250 + 1}", 0))
    target = dns if kind.startswith("dns") else http
    try:
        s.connect(target)
    except BlockingIOError:
        pass
    return s

def feed(kind, s):
    try:
        if kind == "dns, never reading":
            q = query("example.test", 255)
            s.send((struct.pack(">H", len(q)) + q) * 20)
        elif kind == "http, half a head":
            s.send(b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.test\r\n")
    except OSError:
        pass

print(f"| hostile connections held ({n}) | opened | legit UDP | legit TCP | legit HTTP |")
print("|---|---|---|---|---|")
for kind in ["dns, silent", "dns, never reading", "http, silent", "http, half a head"]:
    socks = []
    for i in range(n):
        try:
            socks.append(hostile(kind, i))
        except OSError:
            break
    time.sleep(1)
    for s in socks:
        feed(kind, s)
    time.sleep(1)
    times = legit()
    cells = ["FAILED" if t is None else f"{t * 1000:.1f} ms" for t in times]
    print(f"| {kind} | {len(socks)} | " + " | ".join(cells) + " |")
    for s in socks:
        s.close()
    time.sleep(0.5)
EOF
