#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time each.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, all targets)
# Installs cargo-fuzz when missing. Uses a nightly toolchain when one is installed, otherwise the
# stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${secs}s"
  cargo "${toolchain[@]}" fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=4096
done
echo "fuzz: all ${#targets[@]} targets ran ${secs}s without a crash"
