#!/usr/bin/env bash
# Measure the code size of the iOS static library built with the size-tuned profile: the sum of
# the __text sections of the objects in libmoshkit.a (what docs/bindings.md reports). The final
# app link drops whatever of it the app does not reach, so this is an upper bound.
#
# usage: scripts/staticlib-size.sh [target]   (default aarch64-apple-ios)
# needs: llvm-size (Debian: apt-get install llvm), rustup
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:-aarch64-apple-ios}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
command -v llvm-size >/dev/null || { apt-get update -qq && apt-get install -y -qq llvm >/dev/null; }
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
cargo rustc --quiet --locked --profile release-size --target "$TARGET" -p moshkit-ffi --lib \
  --crate-type staticlib
LIB=$CARGO_TARGET_DIR/$TARGET/release-size/libmoshkit.a
echo "$LIB: $(stat -c %s "$LIB") bytes on disk (with debug info and symbol tables)"
# Mach-O: "Section (__TEXT, __text): N"; ELF: ".text N" (llvm-size -A).
MACHO=$(llvm-size -m "$LIB" 2>/dev/null || true)
if [[ $MACHO == *"__text"* ]]; then
  echo "$MACHO" | awk '
    /^\/.*\(.*\):$/ { obj = $0 }
    /Section \(__TEXT, __text\)/ { total += $NF; if (obj ~ /\(moshkit-/) own += $NF }
    END { printf "__text: %d bytes total (%d in the LTO-merged moshkit object incl. the std it uses, %d compiler_builtins)\n", total, own, total - own }'
else
  llvm-size -A "$LIB" | awk '$1 ~ /^\.text/ { total += $2 } END { printf ".text: %d bytes total\n", total }'
fi
