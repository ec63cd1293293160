#!/usr/bin/env bash
# Run every MoshKit test on this machine. Installs what the tests need when it is missing
# (scripts/setup.sh: upstream mosh, tmux, sshd, the C/Kotlin/Swift toolchains), so it works
# alone on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every one-time install (apt packages, kotlinc, the Swift chroot, rustup targets) happens here,
# before any test starts a live server: upstream mosh-server exits when no client contacts it
# within 60 s, so no live test may wait for an install.
echo "== setup (one-time installs; quick when done)"
bash scripts/setup.sh
# The interop tests start mosh-server with a UTF-8 locale.
export LANG=C.UTF-8

echo "== cargo test (workspace, all features)"
cargo test --workspace --all-features --locked
echo "== fuzz targets build"
cargo check --manifest-path fuzz/Cargo.toml --locked --quiet
echo "== bindings (C, Kotlin, Swift, Android/iOS staticlibs)"
bash scripts/test-bindings.sh
