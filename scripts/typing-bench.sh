#!/usr/bin/env bash
# Live typing benchmark with real programs (bash, vim, nano, python3, less, cat), MoshKit and
# upstream clients and servers side by side (cli/benches/typing_live.rs; docs/benchmarks.md).
#   scripts/typing-bench.sh            (TYPING_RTT_MS=500, TYPING_ONLY=vim,nano, TYPING_PAIRS=...)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LANG=C.UTF-8
cargo bench -p moshkit-cli --bench typing_live
