#!/usr/bin/env bash
# One-time setup for the test suite: install every tool and toolchain the tests use, so that no
# live test ever waits for an install while an upstream server is running (upstream
# `mosh-server` exits when no client contacts it within 60 s).
#
# usage: scripts/setup.sh
#   Idempotent: each part checks first and does nothing when it is already there, so on a
#   prepared machine it takes about a second. Prints one line per part with its time.
#
# Parts (skip some with SETUP_SKIP="swift kotlin targets ..."; BINDINGS_SKIP's "swift"/"kotlin"
# are honoured too, so a run that skips a step does not install its toolchain):
#   apt      Debian packages: mosh (the upstream peers), tmux (terminal helper), nano/vim/less
#            (programs the typing benchmark drives), openssh-server
#            and openssh-client (the ssh bootstrap tests run a private sshd on loopback), gcc/g++,
#            pkg-config (C ABI tests), a JRE + libjna-java + npm (Kotlin), debootstrap (Swift)
#   kotlin   npm's kotlin-compiler (kotlinc with kotlin-stdlib and kotlinx-coroutines in lib/)
#   swift    the Debian trixie chroot with swiftlang (scripts/swift-check.sh --setup; ROOT as there)
#   targets  rustup targets for the Android/iOS staticlib compile checks
#
# Needs root (or sudo) for apt-get and the chroot.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP=" ${SETUP_SKIP:-} ${BINDINGS_SKIP:-} "
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
START=$SECONDS

skipped() { [[ $SKIP == *" $1 "* ]]; }
part_done() { echo "setup: $1 ready ($(($SECONDS - $2)) s)"; }

# --- apt ----------------------------------------------------------------------------------------
t=$SECONDS
want=()
command -v mosh-server >/dev/null && command -v mosh-client >/dev/null || want+=(mosh)
command -v tmux >/dev/null || want+=(tmux)
# Real programs the typing benchmark drives (vim and less are on most machines already).
command -v nano >/dev/null || want+=(nano)
command -v vim >/dev/null || want+=(vim)
command -v less >/dev/null || want+=(less)
[ -x /usr/sbin/sshd ] || want+=(openssh-server)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || want+=(openssh-client)
command -v gcc >/dev/null || want+=(gcc)
command -v g++ >/dev/null || want+=(g++)
command -v pkg-config >/dev/null || want+=(pkg-config)
if ! skipped kotlin; then
  command -v java >/dev/null || want+=(default-jre-headless)
  [ -f /usr/share/java/jna.jar ] || want+=(libjna-java)
  command -v npm >/dev/null || want+=(npm)
fi
if ! skipped swift; then
  command -v debootstrap >/dev/null || want+=(debootstrap)
fi
if [ ${#want[@]} -gt 0 ]; then
  echo "setup: apt-get install ${want[*]}"
  $SUDO apt-get update -qq
  # policy-rc.d keeps the package's own sshd from being started on the machine's port 22: the
  # tests start their own sshd on a free loopback port and stop it by pid.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${want[@]}" >/dev/null
fi
part_done apt "$t"

# --- kotlin -------------------------------------------------------------------------------------
if ! skipped kotlin; then
  t=$SECONDS
  root=$(npm root -g)
  if [ ! -x "$root/kotlin-compiler/bin/kotlinc" ]; then
    echo "setup: npm install -g kotlin-compiler"
    $SUDO npm install -g --no-audit --no-fund kotlin-compiler >/dev/null
  fi
  part_done kotlin "$t"
fi

# --- swift --------------------------------------------------------------------------------------
if ! skipped swift; then
  t=$SECONDS
  if [ "$(id -u)" = 0 ]; then
    bash scripts/swift-check.sh --setup >/dev/null
  else
    $SUDO env ${ROOT:+ROOT=$ROOT} ${MIRROR:+MIRROR=$MIRROR} bash scripts/swift-check.sh --setup >/dev/null
  fi
  part_done swift "$t"
fi

# --- rustup targets -----------------------------------------------------------------------------
if ! skipped targets; then
  t=$SECONDS
  installed=$(rustup target list --installed)
  for target in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android aarch64-apple-ios; do
    if ! grep -qx "$target" <<<"$installed"; then
      echo "setup: rustup target add $target"
      rustup target add "$target" >/dev/null
    fi
  done
  part_done targets "$t"
fi

echo "setup: all ready ($(($SECONDS - START)) s)"
