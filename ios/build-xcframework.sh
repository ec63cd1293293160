#!/usr/bin/env bash
# Build ios/MoshKit.xcframework (macOS with Xcode): the size-tuned static library for the device
# (aarch64-apple-ios) and the simulator (aarch64-apple-ios-sim + x86_64-apple-ios, joined with
# lipo), each with the uniffi C header as the `MoshKitFFI` module (plus include/moshkit.h for C
# callers). Package.swift then exposes the MoshKit Swift module over it.
#
# usage: ios/build-xcframework.sh
# env: PROFILE (default release-size), IPHONEOS_DEPLOYMENT_TARGET (default 13.0),
#      CARGO_TARGET_DIR (default <repo>/target)
set -euo pipefail
cd "$(dirname "$0")"
IOS_DIR=$PWD
REPO=$(cd .. && pwd)
PROFILE=${PROFILE:-release-size}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-13.0}

[ "$(uname -s)" = Darwin ] && command -v xcodebuild >/dev/null || {
  echo "build-xcframework: needs macOS with Xcode (xcodebuild, lipo)" >&2
  exit 2
}

DEVICE=aarch64-apple-ios
SIMULATORS=(aarch64-apple-ios-sim x86_64-apple-ios)
for target in "$DEVICE" "${SIMULATORS[@]}"; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  echo "== $target"
  cargo rustc --manifest-path "$REPO/Cargo.toml" --locked --profile "$PROFILE" \
    --target "$target" -p moshkit-ffi --lib --crate-type staticlib
done

BUILD=$IOS_DIR/build
rm -rf "$BUILD" "$IOS_DIR/MoshKit.xcframework"
headers() { # headers DIR: the MoshKitFFI clang module + the C API header
  mkdir -p "$1"
  cp "$REPO/bindings/swift/MoshKitFFI.h" "$REPO/include/moshkit.h" "$1/"
  cp "$REPO/bindings/swift/MoshKitFFI.modulemap" "$1/module.modulemap"
}
mkdir -p "$BUILD/device" "$BUILD/simulator"
cp "$TARGET_DIR/$DEVICE/$PROFILE/libmoshkit.a" "$BUILD/device/"
headers "$BUILD/device/Headers"
# One simulator slice holding both architectures.
lipo -create -output "$BUILD/simulator/libmoshkit.a" \
  "$TARGET_DIR/${SIMULATORS[0]}/$PROFILE/libmoshkit.a" \
  "$TARGET_DIR/${SIMULATORS[1]}/$PROFILE/libmoshkit.a"
headers "$BUILD/simulator/Headers"

xcodebuild -create-xcframework \
  -library "$BUILD/device/libmoshkit.a" -headers "$BUILD/device/Headers" \
  -library "$BUILD/simulator/libmoshkit.a" -headers "$BUILD/simulator/Headers" \
  -output "$IOS_DIR/MoshKit.xcframework"
echo "built $IOS_DIR/MoshKit.xcframework"
du -sh "$IOS_DIR/MoshKit.xcframework"
