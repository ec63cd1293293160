#!/usr/bin/env bash
# Run the cargo-fuzz targets for a bounded time and report what each did.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]          (default 60 s each, all targets)
#   scripts/fuzz.sh --total=SECONDS [--jobs=N] [TARGET...]    (SECONDS shared out, N at once)
#   scripts/fuzz.sh --merge [TARGET...]                       (minimise the working corpus into
#                                                              fuzz/corpus/TARGET, the kept one)
#
# Corpus: fuzz/corpus/TARGET is kept in the repository (seeded from real upstream sessions:
# `MOSHKIT_FUZZ_SEEDS=$PWD/fuzz/corpus cargo test -p moshkit-core --all-features --test
# wire_live --test session_live`), read-only during a run; new inputs go to
# target/fuzz-corpus/TARGET. Each run ends with one line per target: wall and CPU seconds,
# executions, coverage (libFuzzer's cov and ft) and corpus size, also appended to
# target/fuzz-report.txt. A crash stops that target with its reproducer in fuzz/artifacts/.
#
# Installs cargo-fuzz when missing. Uses a nightly toolchain when one is installed, otherwise
# the stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
per_target=60 total="" jobs=1 merge=0
targets=()
for a in "$@"; do
  case $a in
    --total=*) total=${a#--total=} ;;
    --jobs=*) jobs=${a#--jobs=} ;;
    --merge) merge=1 ;;
    ''|*[!0-9]*) targets+=("$a") ;;
    *) per_target=$a ;;
  esac
done
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
if [ -n "$total" ]; then
  per_target=$(( total * jobs / ${#targets[@]} ))
fi
mkdir -p target/fuzz-logs
report=target/fuzz-report.txt

if [ $merge = 1 ]; then
  mkdir -p target/fuzz-logs
  for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "target/fuzz-corpus/$t"
    new=target/fuzz-merge/$t
    rm -rf "$new" && mkdir -p "$new"
    # libFuzzer's merge: the inputs of both corpora that add coverage, into a fresh one.
    cargo "${toolchain[@]}" fuzz run "$t" "$new" "fuzz/corpus/$t" "target/fuzz-corpus/$t" -- \
      -merge=1 -rss_limit_mb=2048 -max_len=4096 >"target/fuzz-logs/$t.merge.log" 2>&1
    if [ "$(ls "$new" | wc -l)" -gt 0 ]; then
      rm -rf "fuzz/corpus/$t" && mv "$new" "fuzz/corpus/$t"
    fi
    echo "merged $t: $(ls "fuzz/corpus/$t" | wc -l) inputs kept"
  done
  exit 0
fi

# Build every target first (no time is lost compiling inside a run).
cargo "${toolchain[@]}" fuzz build >/dev/null

run_one() {
  local t=$1 log=target/fuzz-logs/$1.log start=$SECONDS
  mkdir -p "target/fuzz-corpus/$t" "fuzz/corpus/$t"
  /usr/bin/time -f '%U %S' -o "target/fuzz-logs/$t.time" \
    cargo "${toolchain[@]}" fuzz run "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$per_target" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
      >"$log" 2>&1 || { echo "!! $t: crashed or failed, see $log"; tail -20 "$log"; return 1; }
  local cpu; cpu=$(awk '{printf "%.0f", $1 + $2}' "target/fuzz-logs/$t.time")
  local execs cov ft corp
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  corp=$(ls "target/fuzz-corpus/$t" | wc -l)
  local line
  line=$(printf '%s %-22s wall %5ss cpu %5ss execs %10s cov %5s ft %6s corpus %5s' \
    "$(date -u +%F)" "$t" $((SECONDS - start)) "$cpu" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp")
  echo "$line"; echo "$line" >>"$report"
}
failed=0
running=0
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${per_target}s"
  if [ "$jobs" -le 1 ]; then
    run_one "$t" || failed=1
  else
    run_one "$t" & running=$((running + 1))
    if [ $running -ge "$jobs" ]; then wait -n || failed=1; running=$((running - 1)); fi
  fi
done
while [ $running -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
[ $failed = 0 ] || { echo "fuzz: a target failed"; exit 1; }
echo "fuzz: all ${#targets[@]} targets ran ${per_target}s without a crash"
