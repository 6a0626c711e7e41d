#!/usr/bin/env bash
# Builds target/debian/mailbeacon_<version>_<arch>.deb with cargo-deb: the release binary, the
# systemd unit, /etc/mailbeacon/mailbeacon.toml (a conffile), the man page and shell completions.
# systemd creates /var/lib/mailbeacon itself (StateDirectory= in the unit). Installs cargo-deb
# into ~/.cargo when it is missing. Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked -q
cargo build --release --locked --quiet
assets=target/deb-assets
mkdir -p "$assets"
bin=target/release/mailbeacon
"$bin" man | gzip -9n > "$assets/mailbeacon.1.gz"
"$bin" completions bash > "$assets/mailbeacon.bash"
"$bin" completions zsh > "$assets/_mailbeacon"
"$bin" completions fish > "$assets/mailbeacon.fish"
cargo deb --no-build --quiet 2>/dev/null || cargo deb --no-build
ls -1 target/debian/mailbeacon_*.deb | tail -1
