#!/usr/bin/env bash
# Loads every zone of every configuration (the default and config/examples/*.toml) into BIND's
# named-checkzone, Knot's kzonecheck and NSD's nsd-checkzone, exactly as `mailbeacon records` prints
# them. Usage: scripts/check-zones.sh [path/to/mailbeacon [CONFIG…]]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/mailbeacon}
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(config/mailbeacon.toml config/examples/*.toml)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
for config in "${configs[@]}"; do
  zones=$("$bin" check -c "$config" 2>/dev/null | sed -n 's/^\([^ :]*\): \(domain\|alias\).*/\1/p')
  for zone in $zones; do
    file="$tmp/$zone.zone"
    "$bin" records -c "$config" --domain "$zone" > "$file" 2>/dev/null
    for checker in "named-checkzone -q $zone" "kzonecheck -o $zone" "nsd-checkzone $zone"; do
      if ! out=$($checker "$file" 2>&1); then
        echo "FAIL $config $zone: $checker"; echo "$out"; failures=$((failures + 1))
      fi
    done
  done
  n=$(echo $zones | wc -w)
  [ "$n" -eq 1 ] && what="1 zone passes" || what="$n zones pass"
  echo "ok   $config: $what named-checkzone, kzonecheck, nsd-checkzone"
done
exit $((failures > 0))
