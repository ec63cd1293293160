#!/usr/bin/env bash
# Test the foreign-language bindings of moshkit-ffi end to end:
#   rust      cargo test -p moshkit-ffi (the C ABI called from Rust, handles, log routing)
#   rust-asan the C-API tests of moshkit-ffi (C ABI, handles, strings, sessions, scrollback)
#             built with AddressSanitizer (stable rustc with RUSTC_BOOTSTRAP=1 for -Zsanitizer;
#             UB on the Rust side is Miri's job: docs/testing.md)
#   fresh     cargo xtask check (include/moshkit.h and bindings/{kotlin,swift} are up to date)
#   headers   include/moshkit.h compiles as C11 and C++17; uniffi's MoshKitFFI.h as C11
#   c-static  ffi/examples/keys.c linked against libmoshkit.a, run
#   c-shared  ffi/examples/keys.c linked against libmoshkit.so, run
#   c-asan    the same with AddressSanitizer + UBSan (and leak checking), run
#   c-session-static  ffi/examples/session.c against libmoshkit.a, live against an upstream
#             mosh-server on loopback (scripts/with-mosh-server.sh starts and always kills it)
#   c-session-shared  the same against libmoshkit.so, compiled with `pkg-config --cflags --libs
#             moshkit` from ffi/moshkit.pc.in
#   c-session-asan    the same with AddressSanitizer + UBSan
#   kotlin    bindings/tests/MoshKitTest.kt + generated Kotlin, kotlinc, run on the JVM with JNA
#             (with the Android LogcatSink helper against a stub android.util.Log), including a
#             live session against an upstream mosh-server on loopback
#   swift     bindings/tests/main.swift + generated Swift, via scripts/swift-check.sh (chroot),
#             including a live session (the chroot shares the host's network namespace)
#   packaging android/ and ios/ layouts: scripts parse, ios/Sources links the generated Swift;
#             with ANDROID_NDK_HOME set, android/build-jnilibs.sh builds the four ABIs
#   <target>  staticlib compile check for aarch64-linux-android, armv7-linux-androideabi,
#             x86_64-linux-android, aarch64-apple-ios (no NDK/Xcode needed for a staticlib)
#
# Installs what it needs when missing (scripts/setup.sh, run first: gcc/g++, pkg-config, mosh, a
# JRE, libjna-java, npm's kotlin-compiler, debootstrap + the Swift chroot, rustup targets), so it
# is idempotent and works on a fresh machine; no live server is started before every one-time
# install is done. Run as root (apt-get, the Swift chroot). Each step is time-bounded.
# Prints one line per step and ends with exactly `bindings: N passed, M failed`; exits 1 if any
# step failed. Logs of failed steps are printed; all logs stay in $LOGDIR.
#
# env: CARGO_TARGET_DIR (default ./target), BINDINGS_SKIP="swift kotlin ..." (step names to
#      skip, e.g. offline), LOGDIR (default $CARGO_TARGET_DIR/bindings-test/logs)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT_DIR/target}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$ROOT_DIR/$CARGO_TARGET_DIR ;; esac
WORK=$CARGO_TARGET_DIR/bindings-test
LOGDIR=${LOGDIR:-$WORK/logs}
rm -rf "$WORK"; mkdir -p "$WORK" "$LOGDIR"
DEBUG_DIR=$CARGO_TARGET_DIR/debug
SKIP=" ${BINDINGS_SKIP:-} "
PASSED=0; FAILED=0; FAILED_NAMES=()
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
APT_UPDATED=0

apt_install() {
  if [ $APT_UPDATED = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# step NAME TIMEOUT_SECONDS COMMAND...: run one bounded step, log its output, count it.
step() {
  local name=$1 limit=$2; shift 2
  if [[ $SKIP == *" $name "* ]]; then echo "-- $name: skipped (BINDINGS_SKIP)"; return; fi
  local log=$LOGDIR/$name.log start=$SECONDS rc
  # Steps are shell functions run in a fresh `bash -e` (exported below) so timeout can bound them.
  timeout --kill-after=10 "$limit" bash -c 'set -euo pipefail; "$@"' step "$@" >"$log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    PASSED=$((PASSED + 1)); echo "ok   $name ($((SECONDS - start)) s)"
  else
    FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name")
    [ $rc = 124 ] && echo "(timed out after $limit s)" >>"$log"
    echo "FAIL $name (exit $rc, $((SECONDS - start)) s); last lines of $log:"
    tail -n 40 "$log" | sed 's/^/     /'
  fi
}

# --- tools ------------------------------------------------------------------------------------
# Whether BINARY loads the libmoshkit.so just built (no `| grep -q`: with pipefail, grep quitting
# early can fail the pipeline through ldd's broken pipe).
linked_against_build() {
  local deps; deps=$(ldd "$1")
  [[ $deps == *"$DEBUG_DIR/libmoshkit.so"* ]] || { echo "$1 does not load $DEBUG_DIR/libmoshkit.so:"; echo "$deps"; exit 1; }
}

ensure_c_tools() {
  command -v gcc >/dev/null && command -v g++ >/dev/null || apt_install gcc g++
}
ensure_mosh_server() {
  command -v mosh-server >/dev/null || apt_install mosh
}
KOTLINC=""
ensure_kotlin() {
  command -v java >/dev/null || apt_install default-jre-headless
  [ -f /usr/share/java/jna.jar ] || apt_install libjna-java
  command -v npm >/dev/null || apt_install npm
  local root; root=$(npm root -g)
  if [ ! -x "$root/kotlin-compiler/bin/kotlinc" ]; then
    $SUDO npm install -g --no-audit --no-fund kotlin-compiler >/dev/null
  fi
  KOTLINC=$root/kotlin-compiler/bin/kotlinc
}

# --- steps ------------------------------------------------------------------------------------
rust_tests() { ensure_mosh_server; cargo test --locked -p moshkit-ffi; }

fresh() { cargo xtask check; }  # also builds the debug cdylib + staticlib used below

headers() {
  ensure_c_tools
  gcc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c include/moshkit.h
  g++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++ include/moshkit.h
  # uniffi's header uses clang's nullability qualifiers.
  echo '#include "MoshKitFFI.h"' | gcc -std=c11 -Wall -Werror -D_Nonnull= -D_Nullable= \
    -fsyntax-only -I bindings/swift -x c -
}

c_static() {
  ensure_c_tools
  gcc -std=c11 -Wall -Wextra -Werror -pedantic -I include ffi/examples/keys.c \
    "$DEBUG_DIR/libmoshkit.a" -lpthread -ldl -lm -o "$WORK/keys-static"
  "$WORK/keys-static"
}

c_shared() {
  ensure_c_tools
  gcc -std=c11 -Wall -Wextra -Werror -pedantic -I include ffi/examples/keys.c \
    -L "$DEBUG_DIR" -lmoshkit -Wl,-rpath,"$DEBUG_DIR" -o "$WORK/keys-shared"
  # The dynamic linker must pick this libmoshkit.so: check, then run.
  linked_against_build "$WORK/keys-shared"
  "$WORK/keys-shared"
}

rust_asan() {
  # Only the target crates are instrumented (--target keeps RUSTFLAGS off build scripts and
  # proc macros); the live session test is left to the plain run.
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS=detect_leaks=1 \
    cargo test --locked -p moshkit-ffi --lib --target "$(rustc -vV | sed -n 's/^host: //p')" \
    -- c_api c_session c_scrollback c_screen handles cstr
}

c_asan() {
  ensure_c_tools
  # AddressSanitizer + UBSan on the C side; ASan also intercepts the library's memcpy into
  # caller buffers, so an out-of-bounds write through moshkit_encode_key would be caught.
  gcc -std=c11 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    -I include ffi/examples/keys.c -L "$DEBUG_DIR" -lmoshkit -Wl,-rpath,"$DEBUG_DIR" \
    -o "$WORK/keys-asan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$WORK/keys-asan"
}

c_session_static() {
  ensure_c_tools; ensure_mosh_server
  gcc -std=c11 -Wall -Wextra -Werror -pedantic -I include ffi/examples/session.c \
    "$DEBUG_DIR/libmoshkit.a" -lpthread -ldl -lm -o "$WORK/session-static"
  scripts/with-mosh-server.sh "$WORK/session-static"
}

c_session_shared() {
  ensure_c_tools; ensure_mosh_server
  command -v pkg-config >/dev/null || apt_install pkg-config
  # The pkg-config file, pointed at the build directory.
  local version; version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml)
  version=${version%%$'\n'*}
  mkdir -p "$WORK/pkgconfig"
  sed -e "s|@PREFIX@|$ROOT_DIR|" -e "s|@LIBDIR@|$DEBUG_DIR|" -e "s|@INCLUDEDIR@|$ROOT_DIR/include|" \
    -e "s|@VERSION@|$version|" ffi/moshkit.pc.in >"$WORK/pkgconfig/moshkit.pc"
  export PKG_CONFIG_PATH=$WORK/pkgconfig
  local got; got=$(pkg-config --modversion moshkit)
  [ "$got" = "$version" ] || { echo "pkg-config --modversion: $got, expected $version"; exit 1; }
  got=$(pkg-config --static --libs moshkit)
  [[ $got == *-lpthread* ]] || { echo "pkg-config --static --libs lacks -lpthread: $got"; exit 1; }
  # shellcheck disable=SC2046  # word splitting of pkg-config's output is intended
  gcc -std=c11 -Wall -Wextra -Werror -pedantic ffi/examples/session.c \
    $(pkg-config --cflags --libs moshkit) -Wl,-rpath,"$DEBUG_DIR" -lpthread -o "$WORK/session-shared"
  linked_against_build "$WORK/session-shared"
  scripts/with-mosh-server.sh "$WORK/session-shared"
}

c_session_asan() {
  ensure_c_tools; ensure_mosh_server
  gcc -std=c11 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    -I include ffi/examples/session.c -L "$DEBUG_DIR" -lmoshkit -Wl,-rpath,"$DEBUG_DIR" -lpthread \
    -o "$WORK/session-asan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 scripts/with-mosh-server.sh "$WORK/session-asan"
}

kotlin() {
  ensure_kotlin; ensure_mosh_server
  # kotlinx-coroutines (for the SessionEvents helper) ships with kotlinc.
  local coroutines; coroutines=$(dirname "$KOTLINC")/../lib/kotlinx-coroutines-core-jvm.jar
  "$KOTLINC" -Werror -cp "/usr/share/java/jna.jar:$coroutines" -include-runtime \
    -d "$WORK/kotlin-test.jar" bindings/kotlin/org/moshkit/moshkit.kt bindings/tests/MoshKitTest.kt \
    android/src/main/kotlin/org/moshkit/android/*.kt bindings/tests/android-stub/Log.kt
  scripts/with-mosh-server.sh java -Djna.library.path="$DEBUG_DIR" \
    -cp "$WORK/kotlin-test.jar:/usr/share/java/jna.jar:$coroutines" MoshKitTestKt
}

swift() {
  # Apps may build in Swift 6 language mode: the bindings must compile there without warnings.
  # The chroot shares the host's network namespace and keeps the environment: the test reaches
  # the loopback mosh-server through MOSHKIT_TEST_{HOST,PORT,KEY}.
  ensure_mosh_server
  # The server is started only for the run (RUN_WITH), after the chroot is ready and the test is
  # compiled: mosh-server exits when no client contacts it within 60 s.
  EXTRA_SWIFT=ios/Sources/MoshKit/SessionEvents.swift RUN_WITH=scripts/with-mosh-server.sh \
  SWIFTFLAGS=${SWIFTFLAGS:--swift-version 6 -warnings-as-errors} \
    scripts/swift-check.sh "$DEBUG_DIR/libmoshkit.so" bindings/swift bindings/tests/main.swift
}

packaging() {
  bash -n android/build-jnilibs.sh
  bash -n ios/build-xcframework.sh
  cmp ios/Sources/MoshKit/MoshKit.swift bindings/swift/MoshKit.swift
  grep -q '"../bindings/kotlin"' android/build.gradle.kts
  grep -q 'binaryTarget(name: "MoshKitFFI", path: "MoshKit.xcframework")' ios/Package.swift
  if [ -n "${ANDROID_NDK_HOME:-}" ]; then
    android/build-jnilibs.sh
  else
    # Without an NDK the script must refuse clearly, not half-build.
    if env -u ANDROID_NDK_ROOT android/build-jnilibs.sh 2>"$WORK/jnilibs.err"; then
      echo "build-jnilibs.sh succeeded without an NDK?"; return 1
    fi
    grep -q "set ANDROID_NDK_HOME" "$WORK/jnilibs.err"
    echo "ANDROID_NDK_HOME not set: jniLibs not built (compile checks below cover Android)"
  fi
}

staticlib() {
  local target=$1
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  cargo rustc --locked --release --target "$target" -p moshkit-ffi --lib --crate-type staticlib
  ls -l "$CARGO_TARGET_DIR/$target/release/libmoshkit.a"
}

export -f apt_install ensure_c_tools ensure_mosh_server ensure_kotlin linked_against_build rust_tests rust_asan fresh headers \
  c_static c_shared c_asan c_session_static c_session_shared c_session_asan kotlin swift packaging \
  staticlib
export ROOT_DIR WORK DEBUG_DIR SUDO APT_UPDATED

# --- run --------------------------------------------------------------------------------------
# Every toolchain and one-time install first, before any step starts a live server.
if ! bash scripts/setup.sh >"$LOGDIR/setup.log" 2>&1; then
  echo "FAIL setup; last lines of $LOGDIR/setup.log:"; tail -n 40 "$LOGDIR/setup.log" | sed 's/^/     /'
  echo "bindings: 0 passed, 1 failed"; exit 1
fi
tail -n 1 "$LOGDIR/setup.log"
step rust 1200 rust_tests
step rust-asan 1200 rust_asan
step fresh 900 fresh
if [ ! -f "$DEBUG_DIR/libmoshkit.so" ] || [ ! -f "$DEBUG_DIR/libmoshkit.a" ]; then
  # `fresh` was skipped or failed early: build the libraries the programs link against.
  cargo build --locked -p moshkit-ffi --lib >"$LOGDIR/build.log" 2>&1
fi
step headers 300 headers
step c-static 300 c_static
step c-shared 300 c_shared
step c-asan 300 c_asan
step c-session-static 300 c_session_static
step c-session-shared 300 c_session_shared
step c-session-asan 300 c_session_asan
step kotlin 900 kotlin
step swift 1200 swift
step packaging 1800 packaging
for t in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android aarch64-apple-ios; do
  step "$t" 900 staticlib "$t"
done

if [ $FAILED -gt 0 ]; then echo "failed: ${FAILED_NAMES[*]} (logs in $LOGDIR)"; fi
echo "bindings: $PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
