#!/usr/bin/env bash
# Runs COMMAND inside a fresh network namespace where only loopback exists and `mailbeacon lab`
# listens on the standard ports (DNS 53, HTTP 80, HTTPS 443, on 127.0.0.1 and ::1). Inside, and only
# inside, /etc/resolv.conf points at it and the lab CA is added to the system trust bundle (both
# bind-mounted in a private mount namespace), so an unmodified client finds everything by name.
# Nothing can leave the machine: the namespace has no other interface.
#
# Usage: scripts/lab-netns.sh [LAB OPTIONS…] -- COMMAND [ARGS…]
#   LAB OPTIONS are passed to `mailbeacon lab` (--config FILE, --domain NAME, --state DIR).
#   MAILBEACON_BIN selects the binary (default: target/release/mailbeacon, built if missing).
# Needs root (unshare). Exit status: COMMAND's.
set -euo pipefail

if [ "${MAILBEACON_NETNS_INNER:-}" != 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "lab-netns.sh: needs root (unshare --net --mount)" >&2
    exit 2
  fi
  bin=${MAILBEACON_BIN:-}
  if [ -z "$bin" ]; then
    cd "$(dirname "$0")/.."
    bin=${CARGO_TARGET_DIR:-target}/release/mailbeacon
    [ -x "$bin" ] || cargo build --release --quiet
    bin=$(realpath "$bin")
  fi
  # A private mount namespace (unshare's default propagation is private) and a new network one.
  exec unshare --net --mount --fork env MAILBEACON_NETNS_INNER=1 MAILBEACON_BIN="$bin" "$0" "$@"
fi

lab_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  lab_args+=("$1")
  shift
done
if [ $# -lt 2 ]; then
  echo "usage: lab-netns.sh [LAB OPTIONS…] -- COMMAND [ARGS…]" >&2
  exit 2
fi
shift

ip link set lo up
tmp=$(mktemp -d)
chmod 755 "$tmp"
MAILBEACON_LOG=${MAILBEACON_LOG:-warn} "$MAILBEACON_BIN" lab "${lab_args[@]}" \
  --dns 127.0.0.1:53 --dns '[::1]:53' --http 127.0.0.1:80 --http '[::1]:80' \
  --https 127.0.0.1:443 --https '[::1]:443' --ready-file "$tmp/ready.json" >/dev/null &
lab_pid=$!
cleanup() { kill "$lab_pid" 2>/dev/null || true; wait "$lab_pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 400); do
  [ -f "$tmp/ready.json" ] && break
  kill -0 "$lab_pid" 2>/dev/null || { echo "lab-netns.sh: mailbeacon lab did not start" >&2; exit 1; }
  sleep 0.025
done
ca=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ca"])' "$tmp/ready.json")

# Resolver: only the lab. (/etc/resolv.conf may be a symlink; mount over what it points to.)
echo "nameserver 127.0.0.1" > "$tmp/resolv.conf"
mount --bind "$tmp/resolv.conf" "$(realpath /etc/resolv.conf)"

# Trust: the system bundle plus the lab CA, wherever the usual tools look.
bundle=/etc/ssl/certs/ca-certificates.crt
{ [ -f "$bundle" ] && cat "$bundle"; cat "$ca"; } > "$tmp/bundle.pem"
if [ -f "$bundle" ]; then
  mount --bind "$tmp/bundle.pem" "$bundle"
fi
export SSL_CERT_FILE="$tmp/bundle.pem" REQUESTS_CA_BUNDLE="$tmp/bundle.pem" CURL_CA_BUNDLE="$tmp/bundle.pem"
export MAILBEACON_LAB_READY="$tmp/ready.json"

set +e
"$@"
rc=$?
set -e
exit "$rc"
