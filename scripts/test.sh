#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
#
# Installs what it needs when missing (Debian packages, listed below; Python packages into a virtual
# environment under target/), then runs every step even when an earlier one fails, and ends with one
# summary. Nothing outside the clone is changed except the Debian packages it installs.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}

need=()
command -v named-checkzone >/dev/null || need+=(bind9-utils)
command -v kzonecheck >/dev/null || need+=(knot-dnssecutils)
command -v knotd >/dev/null || need+=(knot)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v nsd-checkzone >/dev/null || need+=(nsd)
command -v dig >/dev/null || need+=(dnsutils)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v chromium >/dev/null || need+=(chromium)
command -v zonemaster-cli >/dev/null || need+=(zonemaster-cli)
command -v unbound >/dev/null || need+=(unbound)
command -v pebble >/dev/null || need+=(pebble)
command -v delv >/dev/null || need+=(bind9-dnsutils)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # Packaged servers must not start during the install (they would take port 53; the tests start
  # their own). policy-rc.d says so to invoke-rc.d; whatever was there before is put back after.
  saved=""
  if [ -e /usr/sbin/policy-rc.d ]; then
    saved=$(mktemp)
    $sudo_cmd cp -p /usr/sbin/policy-rc.d "$saved"
  fi
  restore_policy() {
    if [ -n "$saved" ]; then
      $sudo_cmd cp -p "$saved" /usr/sbin/policy-rc.d && rm -f "$saved"
    else
      $sudo_cmd rm -f /usr/sbin/policy-rc.d
    fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
  install_status=$?
  restore_policy
  trap - EXIT
  [ $install_status -eq 0 ] || { echo "package installation failed"; exit 1; }
fi

# Python helpers (dnspython) in a virtual environment inside the clone; its python3 comes first on
# PATH for the tests and scripts below.
venv=$target/venv
if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -c "import dns, websocket, prometheus_client" 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/python3" -m pip install -q dnspython websocket-client prometheus-client || {
    echo "could not prepare the Python virtual environment in $venv"
    exit 1
  }
fi
export PATH="$venv/bin:$PATH"

rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

results=()
failed=0
step() {
  local name=$1
  shift
  local start=$SECONDS
  echo "==> $name"
  if "$@"; then
    results+=("ok      $((SECONDS - start))s  $name")
  else
    results+=("FAILED  $((SECONDS - start))s  $name")
    failed=1
  fi
}

step "cargo fmt --check" cargo fmt --all --check
step "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test (every test binary)" cargo test --workspace --locked --no-fail-fast
step "cargo build" cargo build --locked
step "zones load in BIND, Knot and NSD" scripts/check-zones.sh "$target/debug/mailbeacon"
step "DNS differential against Knot" python3 scripts/dns-differential.py --bin "$target/debug/mailbeacon"
step "signed DNS differential against Knot" python3 scripts/dns-differential.py --signed --bin "$target/debug/mailbeacon"
zonemaster() {
  python3 scripts/zonemaster-check.py --bin "$target/debug/mailbeacon"
  local status=$?
  # 77: no network namespace here (not root); the script said so.
  [ $status -eq 77 ] && return 0
  return $status
}
step "Zonemaster on every example (network namespace)" zonemaster
downstream() {
  # A crate outside the workspace (own lock file) using email-lib from crates.io against the lab;
  # its tests re-run themselves in a network namespace, which needs root. Not --locked: its lock
  # file pins the third-party versions, and cargo adds whatever the workspace crates newly depend
  # on (a downstream crate's lock file lags its path dependencies the same way).
  if [ "$(id -u)" -ne 0 ] || ! unshare --net --mount true 2>/dev/null; then
    echo "skipped: the downstream test needs root for a network namespace (unshare --net --mount)"
    return 0
  fi
  cargo fmt --manifest-path examples/downstream/Cargo.toml --check &&
    cargo test --manifest-path examples/downstream/Cargo.toml --target-dir "$target/downstream"
}
step "downstream: email-lib (crates.io) discovers a lab domain (network namespace)" downstream
step "fuzz smoke (libFuzzer, 15 s per target)" scripts/fuzz.sh 15
step "package: .deb built, unpacked and checked" scripts/check-deb.sh

echo
echo "summary (total ${SECONDS}s):"
printf '  %s\n' "${results[@]}"
if ((failed)); then
  echo "some steps FAILED"
  exit 1
fi
echo "all tests passed"
