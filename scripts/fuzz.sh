#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for SECONDS each (default 20) with libFuzzer through
# cargo-fuzz, starting from the small corpus kept in fuzz/corpus/. New inputs go to a scratch
# directory under target/, so the kept corpus only changes when someone copies a find into it.
# Needs a nightly toolchain and cargo-fuzz; without them it says so and exits 0, so that the test
# suite runs anywhere.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: skipped, no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked -q || { echo "fuzz: cannot install cargo-fuzz"; exit 1; }
fi
status=0
for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
  scratch=target/fuzz-corpus/$target
  mkdir -p "$scratch"
  if cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$scratch" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 > "target/fuzz-$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "target/fuzz-$target.log" | grep -o '[0-9]*$')
    echo "ok   fuzz $target: ${runs:-?} inputs in ${seconds}s, no crash"
  else
    echo "FAIL fuzz $target (target/fuzz-$target.log):"
    tail -40 "target/fuzz-$target.log"
    status=1
  fi
done
exit $status
