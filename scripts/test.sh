#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
# Installs what it needs when missing, then: rustfmt, clippy, every test, and the name-server checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v named-checkzone >/dev/null || need+=(bind9-utils)
command -v kzonecheck >/dev/null || need+=(knot-dnssecutils)
command -v knotd >/dev/null || need+=(knot)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v nsd-checkzone >/dev/null || need+=(nsd)
command -v dig >/dev/null || need+=(dnsutils)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # Packaged servers must not start (they would take port 53); tests start their own.
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! python3 -c 'import dns' 2>/dev/null; then
  python3 -m pip install -q dnspython
fi

rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
cargo build --locked
scripts/check-zones.sh "${CARGO_TARGET_DIR:-target}/debug/mailbeacon"
python3 scripts/dns-differential.py --bin "${CARGO_TARGET_DIR:-target}/debug/mailbeacon"
echo "all tests passed"
