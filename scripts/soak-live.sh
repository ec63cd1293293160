#!/usr/bin/env bash
# Live soak outside CI: moshkit-client against upstream mosh-server and upstream mosh-client
# against moshkit-server, through the project's relay, under blackouts, roams and resizes,
# with the RSS of every process sampled (cli/benches/soak_live.rs; docs/testing.md).
#   scripts/soak-live.sh [MINUTES]        (default 10; SOAK_SAMPLE_SECS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LANG=C.UTF-8
SOAK_MINUTES="${1:-${SOAK_MINUTES:-10}}" cargo bench -p moshkit-cli --bench soak_live
