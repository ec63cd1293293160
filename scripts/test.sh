#!/usr/bin/env bash
# Run every MoshKit test on this machine. Installs what the tests need when it is missing
# (upstream mosh for the interop tests, tmux), so it works alone on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosh-server >/dev/null || need+=(mosh)
command -v mosh-client >/dev/null || need+=(mosh)
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "== installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The interop tests start mosh-server with a UTF-8 locale.
export LANG=C.UTF-8

echo "== cargo test (workspace, all features)"
cargo test --workspace --all-features --locked
echo "== fuzz targets build"
cargo check --manifest-path fuzz/Cargo.toml --locked --quiet
echo "== bindings (C, Kotlin, Swift, Android/iOS staticlibs)"
bash scripts/test-bindings.sh
