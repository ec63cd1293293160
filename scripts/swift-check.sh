#!/usr/bin/env bash
# Compile + run uniffi-generated Swift bindings on a Linux (Debian) host via a Debian trixie
# chroot with Debian's `swiftlang` package (6.0.3; it needs glibc >= 2.38).
#
# usage: swift-check.sh LIB.so BINDINGS_DIR MAIN.swift
#        swift-check.sh --setup            (only prepare the chroot + toolchain, then exit)
#   LIB.so        host cdylib, e.g. target/debug/libmoshkit.so
#   BINDINGS_DIR  output of `uniffi-bindgen generate --language swift` (*.swift, *FFI.h, *FFI.modulemap)
#   MAIN.swift    test program; use precondition() for checks (a failed one exits nonzero)
# env: EXTRA_SWIFT (more .swift files compiled with the bindings, e.g. hand-written helpers),
#      ROOT (chroot dir, default ${TMPDIR:-/tmp}/moshkit-swift-root), MIRROR (default
#      http://deb.debian.org/debian), SWIFTFLAGS (extra swiftc flags, e.g. "-warnings-as-errors"),
#      RUN_WITH (a command prefix for the run step only, e.g. scripts/with-mosh-server.sh: a live
#      server is then started after the chroot is ready and the test compiled, just before the
#      test program connects)
# First run: ~75 s and ~2.7 GB (debootstrap + swiftlang); later runs take seconds.
# Exit status = the test program's (nonzero on a failed precondition), or the swiftc/setup failure.
set -euo pipefail
ROOT=${ROOT:-${TMPDIR:-/tmp}/moshkit-swift-root}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SETUP_ONLY=0
if [ "${1:-}" = "--setup" ]; then
  SETUP_ONLY=1
else
  [ $# -eq 3 ] || { echo "usage: $0 LIB.so BINDINGS_DIR MAIN.swift | $0 --setup" >&2; exit 2; }
  SO=$(readlink -f "$1"); GEN=$(readlink -f "$2"); MAIN=$(readlink -f "$3")
  [ -f "$SO" ] && [ -d "$GEN" ] && [ -f "$MAIN" ] || { echo "usage: $0 LIB.so BINDINGS_DIR MAIN.swift" >&2; exit 2; }
fi
[ "$(id -u)" = 0 ] || { echo "swift-check: must run as root (debootstrap/chroot/mount)" >&2; exit 2; }

exec 9>"$ROOT.lock"; flock 9          # one user of the chroot's mounts at a time

# 1. chroot (once): debootstrap trixie minbase
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
fi

# 2. mounts (only the ones we make are undone on exit)
MOUNTED=()
cleanup() { local i; for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do umount "${MOUNTED[i]}" || umount -l "${MOUNTED[i]}"; done; }
trap cleanup EXIT
for d in proc sys dev dev/pts; do
  if ! mountpoint -q "$ROOT/$d"; then mount --bind "/$d" "$ROOT/$d"; MOUNTED+=("$ROOT/$d"); fi
done

# 3. toolchain (once): swiftlang + libc6-dev (~532 MB download, ~2.5 GB installed)
if [ ! -x "$ROOT/usr/bin/swiftc" ]; then
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  chroot "$ROOT" apt-get update -qq
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends swiftlang libc6-dev
  chroot "$ROOT" apt-get clean
fi
if [ $SETUP_ONLY = 1 ]; then echo "swift-check: toolchain ready in $ROOT"; exit 0; fi

# 4. stage inputs: bindings unmodified; lib; test main
JOB=/srv/check-$$; J="$ROOT$JOB"
rm -rf "$J"; mkdir -p "$J/ffi" "$J/lib" "$J/src"
cp "$GEN"/*.h "$GEN"/*.modulemap "$J/ffi/"
cp "$GEN"/*.swift "$J/src/"
cp "$MAIN" "$J/src/main.swift"
for f in ${EXTRA_SWIFT:-}; do cp "$f" "$J/src/"; done
cp "$SO" "$J/lib/"
LIBNAME=$(basename "$SO"); LIBNAME=${LIBNAME#lib}; LIBNAME=${LIBNAME%%.so*}
MMFLAGS=""; for m in "$J"/ffi/*.modulemap; do MMFLAGS+=" -Xcc -fmodule-map-file=ffi/$(basename "$m")"; done

# 5. compile + run (the generated modulemap's `use "Darwin"` is harmless: clang only enforces
#    `use` with -fmodules-decluse, so no edits are needed)
chroot "$ROOT" bash -c "cd $JOB && swiftc ${SWIFTFLAGS:-} -module-name MoshKitSwiftCheck -o check \
    -I ffi $MMFLAGS -L lib -l$LIBNAME src/*.swift"
set +e
# shellcheck disable=SC2086  # RUN_WITH is a command prefix (words)
${RUN_WITH:-} chroot "$ROOT" bash -c "cd $JOB && LD_LIBRARY_PATH=lib ./check"
RC=$?
set -e
if [ $RC = 0 ]; then rm -rf "$J"; echo "swift-check: PASS"; else echo "swift-check: FAIL (exit $RC; kept $J)"; fi
exit $RC
