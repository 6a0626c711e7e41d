#!/usr/bin/env bash
# Lab start-up benchmark: time from exec of `mailbeacon lab` to its ready file, for the default
# configuration and for 100 extra domains, with a fresh CA (temporary directory) and a persistent
# one (--state); then the in-process API's start() and start+stop cycle (crates/lab/examples).
# Usage: scripts/bench-lab.sh [ROUNDS]   (builds release binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
cargo build --release --quiet
cargo build --release --quiet -p mailbeacon-lab --example lab_startup
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/mailbeacon

python3 - "$bin" "$rounds" <<'PY'
import os, signal, statistics, subprocess, sys, tempfile, time

binary, rounds = sys.argv[1], int(sys.argv[2])
extra = [a for i in range(100) for a in ("--domain", f"d{i:03}.test")]
state = tempfile.mkdtemp(prefix="bench-lab-state-")

def exec_to_ready(args):
    times = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            ready = os.path.join(d, "ready.json")
            t0 = time.perf_counter()
            p = subprocess.Popen([binary, "lab", "--ready-file", ready, *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env={**os.environ, "MAILBEACON_LOG": "warn"})
            while not os.path.exists(ready):
                if p.poll() is not None:
                    sys.exit(f"lab exited with {p.returncode}")
                time.sleep(0.0002)
            times.append(time.perf_counter() - t0)
            p.send_signal(signal.SIGTERM)
            p.wait()
    return statistics.median(times) * 1000

print(f"exec → ready file (median of {rounds})")
for label, args in [
    ("default config, fresh CA", []),
    ("default config, persistent CA", ["--state", state]),
    ("+100 domains, fresh CA", extra),
    ("+100 domains, persistent CA", ["--state", state, *extra]),
]:
    print(f"  {label:<34} {exec_to_ready(args):7.2f} ms")
PY
echo "in-process API"
"$target/release/examples/lab_startup" "$rounds"
