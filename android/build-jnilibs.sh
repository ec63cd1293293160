#!/usr/bin/env bash
# Build libmoshkit.so for each Android ABI into src/main/jniLibs/<abi>/ (what cargo-ndk does,
# without needing it): the NDK's clang as linker, the size-tuned profile, 16 KB page alignment.
#
# usage: ANDROID_NDK_HOME=/path/to/ndk android/build-jnilibs.sh [abi...]
#   abi: arm64-v8a armeabi-v7a x86_64 x86 (default: all four)
# env: ANDROID_API (minimum API level, default 24, matches minSdk), PROFILE (default release-size),
#      CARGO_TARGET_DIR (default <repo>/target)
set -euo pipefail
cd "$(dirname "$0")"
ANDROID_DIR=$PWD
REPO=$(cd .. && pwd)
API=${ANDROID_API:-24}
PROFILE=${PROFILE:-release-size}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

NDK=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
if [ -z "$NDK" ] || [ ! -d "$NDK" ]; then
  echo "build-jnilibs: set ANDROID_NDK_HOME to an Android NDK (r26 or later)" >&2
  exit 2
fi
case "$(uname -s)" in
  Linux) HOST=linux-x86_64 ;;
  Darwin) HOST=darwin-x86_64 ;; # the NDK ships universal binaries under this name
  *) echo "build-jnilibs: unsupported host $(uname -s)" >&2; exit 2 ;;
esac
BIN=$NDK/toolchains/llvm/prebuilt/$HOST/bin
[ -d "$BIN" ] || { echo "build-jnilibs: no NDK toolchain at $BIN" >&2; exit 2; }

# abi -> rust target, clang target prefix
triple() {
  case $1 in
    arm64-v8a) echo "aarch64-linux-android aarch64-linux-android" ;;
    armeabi-v7a) echo "armv7-linux-androideabi armv7a-linux-androideabi" ;;
    x86_64) echo "x86_64-linux-android x86_64-linux-android" ;;
    x86) echo "i686-linux-android i686-linux-android" ;;
    *) echo "build-jnilibs: unknown ABI $1" >&2; exit 2 ;;
  esac
}

ABIS=("$@")
[ ${#ABIS[@]} -gt 0 ] || ABIS=(arm64-v8a armeabi-v7a x86_64 x86)
for abi in "${ABIS[@]}"; do
  read -r target clang_prefix <<<"$(triple "$abi")"
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  cc=$BIN/${clang_prefix}${API}-clang
  [ -x "$cc" ] || { echo "build-jnilibs: missing $cc" >&2; exit 2; }
  env_target=$(echo "$target" | tr 'a-z-' 'A-Z_')
  echo "== $abi ($target, API $API)"
  env "CC_${target//-/_}=$cc" "AR_${target//-/_}=$BIN/llvm-ar" \
      "CARGO_TARGET_${env_target}_LINKER=$cc" \
      "CARGO_TARGET_${env_target}_RUSTFLAGS=-C link-arg=-Wl,-z,max-page-size=16384" \
      cargo build --manifest-path "$REPO/Cargo.toml" --locked --profile "$PROFILE" \
        --target "$target" -p moshkit-ffi --lib
  mkdir -p "$ANDROID_DIR/src/main/jniLibs/$abi"
  cp "$TARGET_DIR/$target/$PROFILE/libmoshkit.so" "$ANDROID_DIR/src/main/jniLibs/$abi/"
  "$BIN/llvm-strip" --strip-unneeded "$ANDROID_DIR/src/main/jniLibs/$abi/libmoshkit.so"
  ls -l "$ANDROID_DIR/src/main/jniLibs/$abi/libmoshkit.so"
done
