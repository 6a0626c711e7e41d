#!/usr/bin/env bash
# HTTP benchmark: wrk against mailbeacon's autoconfig endpoint and against nginx serving the very
# same bytes as a static file, in one run, at 1, 16 and 64 connections; then Outlook's
# Autodiscover POST against mailbeacon. Servers are pinned to CPU 0, wrk to CPU 1. By default both
# servers log no requests (nginx: access_log off; mailbeacon: MAILBEACON_LOG=warn) so neither pays
# for I/O the other skips; with ACCESS_LOG=1 both write an access log line per request to a file
# (nginx: `access_log … combined`; mailbeacon: MAILBEACON_LOG=info, standard error to a file).
# Usage: [ACCESS_LOG=1] scripts/bench-http.sh [SECONDS]   (needs wrk, nginx, curl; builds release)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/mailbeacon
tmp=$(mktemp -d)
chmod 755 "$tmp"  # nginx workers run as another user and must read the files
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
config=config/mailbeacon.toml
mb_port=18080
nginx_port=18081
path="/mail/config-v1.1.xml?emailaddress=alice%40example.test"

if [ "${ACCESS_LOG:-0}" = 1 ]; then
  mb_log=info
  nginx_log="access_log $tmp/nginx-access.log combined;"
else
  mb_log=warn
  nginx_log="access_log off;"
fi
MAILBEACON_LOG=$mb_log taskset -c 0 "$bin" serve -c "$config" --dns 127.0.0.1:0 \
  --http 127.0.0.1:$mb_port --https 127.0.0.1:18443 --ready-file "$tmp/ready" 2> "$tmp/mb-access.log" &
for _ in $(seq 200); do [ -f "$tmp/ready" ] && break; sleep 0.05; done

mkdir -p "$tmp/www/mail"
curl -sf -H 'Host: autoconfig.example.test' "http://127.0.0.1:$mb_port$path" > "$tmp/www/mail/config-v1.1.xml"
cat > "$tmp/nginx.conf" <<C
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  $nginx_log
  keepalive_requests 10000000;
  types { application/xml xml; }
  server {
    listen 127.0.0.1:$nginx_port;
    root $tmp/www;
  }
}
C
taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp" 2>/dev/null &
sleep 0.5
cmp <(curl -s "http://127.0.0.1:$nginx_port$path") "$tmp/www/mail/config-v1.1.xml"

cat > "$tmp/post.lua" <<'L'
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.body = [[<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>]]
L

bench() { # url connections [extra wrk args…] → "rps p99"
  local url=$1 c=$2; shift 2
  taskset -c 1 wrk -t1 -c "$c" -d "${secs}s" --latency -H 'Host: autoconfig.example.test' "$@" "$url" |
    awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} END {print rps, p99}'
}

printf "%-26s %5s %12s %9s %12s %9s %7s\n" test conns "nginx req/s" "p99" "mb req/s" "p99" ratio
for c in 1 16 64; do
  read -r n_rps n_p99 < <(bench "http://127.0.0.1:$nginx_port$path" "$c")
  read -r m_rps m_p99 < <(bench "http://127.0.0.1:$mb_port$path" "$c")
  printf "%-26s %5s %12s %9s %12s %9s %6.2fx\n" "autoconfig GET" "$c" "$n_rps" "$n_p99" "$m_rps" "$m_p99" \
    "$(awk -v a="$m_rps" -v b="$n_rps" 'BEGIN {print a / b}')"
done
if [ "${ACCESS_LOG:-0}" = 1 ]; then
  echo "access log lines: nginx $(wc -l < "$tmp/nginx-access.log"), mailbeacon $(grep -c 'mailbeacon::access' "$tmp/mb-access.log")"
fi
for c in 1 16 64; do
  # Over HTTPS: on plain HTTP Autodiscover answers with the redirect to HTTPS.
  read -r m_rps m_p99 < <(bench "https://127.0.0.1:18443/autodiscover/autodiscover.xml" "$c" -s "$tmp/post.lua")
  printf "%-26s %5s %12s %9s %12s %9s %7s\n" "autodiscover POST https" "$c" - - "$m_rps" "$m_p99" -
done
