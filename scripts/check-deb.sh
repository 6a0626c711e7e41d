#!/usr/bin/env bash
# Builds the .deb (scripts/package-deb.sh) and checks it: its contents, its control fields, and —
# unpacked into a throwaway root — that the packaged binary accepts the packaged configuration and
# the unit passes `systemd-analyze verify` against it.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(scripts/package-deb.sh | tail -1)
echo "built $deb ($(du -h "$deb" | cut -f1))"
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/mailbeacon ./lib/systemd/system/mailbeacon.service \
    ./etc/mailbeacon/mailbeacon.toml ./usr/share/man/man1/mailbeacon.1.gz \
    ./usr/share/bash-completion/completions/mailbeacon ./usr/share/zsh/vendor-completions/_mailbeacon \
    ./usr/share/fish/vendor_completions.d/mailbeacon.fish ./usr/share/doc/mailbeacon/copyright; do
  grep -q " $path\$" <<<"$contents" || { echo "missing from the package: $path"; exit 1; }
done
dpkg-deb -f "$deb" Package Version Architecture Depends
grep -qx /etc/mailbeacon/mailbeacon.toml <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles) ||
  { echo "the configuration is not a conffile"; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
"$root/usr/bin/mailbeacon" check --config "$root/etc/mailbeacon/mailbeacon.toml"
zcat "$root/usr/share/man/man1/mailbeacon.1.gz" | grep -q '^\.TH mailbeacon 1' || { echo "bad man page"; exit 1; }
size=$(stat -c %s "$root/usr/bin/mailbeacon")
echo "packaged binary: $((size / 1024 / 1024)) MiB (stripped)"
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/bin/mailbeacon|$root/usr/bin/mailbeacon|g; s|/etc/mailbeacon/|$root/etc/mailbeacon/|g" \
    "$root/lib/systemd/system/mailbeacon.service" > "$root/mailbeacon.service"
  systemd-analyze verify "$root/mailbeacon.service"
fi
echo "ok   the .deb installs the binary, unit, configuration, man page and completions"
