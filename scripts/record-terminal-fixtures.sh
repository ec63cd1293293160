#!/usr/bin/env bash
# Records terminal fixtures: real programs' output bytes (captured with tmux pipe-pane) and
# the screen tmux shows for them (capture-pane -p / -e, cursor position). The emulator tests
# (core/tests/terminal_fixtures.rs) replay the bytes and compare with tmux's screen.
#
# Usage: scripts/record-terminal-fixtures.sh [name...]   (needs tmux, bash, ls, vim, less, top)
#
# `upstream` (not run by default) records core/tests/fixtures/terminal/upstream/: it first
# generates the case streams with the ignored test `generate_upstream_cases`, then writes each
# to the pty of a live `mosh --local` session (mosh 1.4) in an 80x24 tmux pane and records
# the screen mosh-client shows (text, cursor, and `capture-pane -e` for renditions).
set -euo pipefail

OUT="$(cd "$(dirname "$0")/.." && pwd)/core/tests/fixtures/terminal"
SOCK="moshkit-fixtures-$$"
WORK="$(mktemp -d)"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; sleep 1; rm -rf "$WORK" 2>/dev/null || true' EXIT
mkdir -p "$OUT"

T() { tmux -L "$SOCK" "$@"; }

# record NAME TERM COMMAND [KEYS...]: run COMMAND in an 80x24 pane once recording started,
# send each KEYS argument (a tmux send-keys argument list, "sleep:N" pauses), then capture.
record() {
    local name="$1" term="$2" cmd="$3"
    shift 3
    rm -f "$WORK/go"
    T -f /dev/null new-session -d -s "$name" -x 80 -y 24 \
        "cd '$WORK' && while [ ! -e go ]; do sleep 0.05; done; exec env TERM=$term LANG=C.UTF-8 LC_ALL=C.UTF-8 $cmd"
    T set -g status off
    T resize-window -t "$name" -x 80 -y 24 2>/dev/null || true
    T pipe-pane -t "$name" -o "cat > '$OUT/$name.bytes'"
    sleep 0.3
    touch "$WORK/go"
    sleep 1.5
    local k
    for k in "$@"; do
        case "$k" in
        sleep:*) sleep "${k#sleep:}" ;;
        *) eval "T send-keys -t '$name' $k" ;;
        esac
    done
    sleep 1.5
    T capture-pane -t "$name" -p >"$OUT/$name.txt"
    T capture-pane -t "$name" -p -e >"$OUT/$name.ansi"
    T display -t "$name" -p '#{cursor_x} #{cursor_y} #{alternate_on}' >"$OUT/$name.cursor"
    T pipe-pane -t "$name"
    T kill-session -t "$name"
    echo "$name: $(wc -c <"$OUT/$name.bytes") bytes"
}

# Input material for the programs (not expected output).
mkdir -p "$WORK/tree/sub" && cd "$WORK/tree" && touch a.txt b.sh c.tar.gz && chmod +x b.sh
ln -sf a.txt link && mkdir -p dir1 dir2 && cd "$WORK"
cat >"$WORK/demo.c" <<'SRC'
#include <stdio.h>

/* A small program to look at in an editor. */
int main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        printf("%d: %s\n", i, argv[i]);
    }
    return 0;
}
SRC
seq -f 'line %g of a long file viewed with less' 1 200 >"$WORK/long.txt"
cat >"$WORK/utf8.txt" <<'SRC'
CJK: 中文字符 日本語 한국어 全角ＡＢＣ
Combining: e\u0301 -> é, a\u0308 -> ä, n\u0303\u0323 -> ṇ̃, Z̤͔ͧ̑̓ä͖̭̈̇lg̮̥̈o
Emoji: 😀 🎉 👍 🐧 ✔ ★ ☃
Mixed: [中]x[😀]y[é]z
Box: ┌──┬──┐ │ab│cd│ └──┴──┘
Wrap: 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二
SRC

# Emulation beyond upstream: DEC Special Graphics (G0 and G1 with SO/SI), CNL/CPL,
# faint and strikethrough.
cat >"$WORK/graphics.sh" <<'SRC'
printf '\033(0lqqqwqqqk\033(B  plain\n'
printf '\033(0x\033(B abc \033(0x\033(B def \033(0x\033(B\n'
printf '\033(0tqqqnqqqu\033(B\n'
printf '\033)0\016mqqqvqqqj\017 after SI\n'
printf '\033(0`afgjklmnopqrstuvwxyz{|}~\033(B\n'
printf '\0337\033(0\0338q\033(B q\n'
printf 'A\033[2EB\033[1FC\033[3ED\n'
printf '\033[2mfaint\033[22m \033[9mstrike\033[29m \033[1;2mbold-faint\033[0m \033[2;9;31mall\033[0m\n'
SRC
# Erasing or overwriting from the right half of a wide character (tmux keeps the left half
# in its grid; xterm and MoshKit erase the whole character, see docs/terminal.md).
cat >"$WORK/wide-erase.sh" <<'SRC'
printf 'a中b\033[1;3H\033[K|\n'
printf 'a中b\033[2;3H\033[X|\n'
printf 'a中b\033[3;3HZ|\n'
printf 'a中bc\033[4;3H\033[P|\n'
printf 'a中bc\033[5;3H\033[@|\n'
printf 'a中b\033[6;3H\033[1K|\n'
printf 'a中b\033[7;2H\033[K|\n'
printf 'a中中b\033[8;3H\033[2X|\n'
printf 'a中中b\033[9;4H\033[2X|\n'
SRC

want() { [ -z "$WANT" ] || [[ " $WANT " == *" $1 "* ]]; }
WANT="$*"

want shell && record shell xterm-256color "bash --norc --noprofile -i" \
    "'PS1=\"\\\$ \"' Enter" "'ls --color=always -la tree' Enter" \
    "'printf \"\\033[1mbold\\033[0m \\033[4munder\\033[24m \\033[7mrev\\033[0m\\n\"' Enter" \
    "'ls --color=always -F tree' Enter"
want vim && record vim xterm-256color "vim -u NONE -N -n -i NONE demo.c" \
    "':syntax on' Enter" "':set number' Enter" "sleep:0.5" "j j j A ' // added' Escape" \
    "':set cursorline' Enter"
want less && record less xterm-256color "less long.txt" "Space" "sleep:0.3" "/line\\ 4 Enter"
want top && record top vt100 "top -d 30 -b -n 1 -w 80 | head -20; top -d 30" "sleep:1"
want utf8 && record utf8 xterm-256color "sh -c 'cat utf8.txt; printf \"\\033[31m红\\033[42m绿\\033[0m\\n\"; exec sleep 100'"
want graphics && record graphics xterm-256color "sh -c 'printf \"\\033[2J\\033[H\"; sh graphics.sh; exec sleep 100'"
want wide-erase && record wide-erase xterm-256color "sh -c 'printf \"\\033[2J\\033[H\"; sh wide-erase.sh; exec sleep 100'"

record_upstream() {
    local dir="$OUT/upstream" root
    root="$(cd "$OUT/../../../.." && pwd)"
    (cd "$root" && MOSHKIT_WRITE_CASES=1 cargo test -q -p moshkit-core --test terminal_upstream \
        -- --ignored generate_upstream_cases >/dev/null)
    cat >"$WORK/driver.sh" <<'SRC'
#!/bin/sh
# Inside the mosh session: raw pty (no LF -> CR LF, no echo), then play case N on demand.
stty raw -echo
i=0
while :; do
  while [ ! -e "$1/go.$i" ]; do sleep 0.02; done
  [ -e "$1/stop" ] && exit 0
  printf '\033c'
  cat "$(cat "$1/go.$i")"
  touch "$1/done.$i"
  i=$((i+1))
done
SRC
    chmod +x "$WORK/driver.sh"
    T -f /dev/null new-session -d -s upstream -x 80 -y 24 \
        "env LANG=C.UTF-8 LC_ALL=C.UTF-8 mosh --local --bind-server=127.0.0.1 127.0.0.1 -- $WORK/driver.sh $WORK; sleep 600"
    T set -g status off
    sleep 4
    local i=0 f name k
    for f in "$dir"/*.bytes; do
        name="${f%.bytes}"
        echo "$f" >"$WORK/go.tmp" && mv "$WORK/go.tmp" "$WORK/go.$i"
        for k in $(seq 200); do [ -e "$WORK/done.$i" ] && break; sleep 0.05; done
        sleep 0.7
        T capture-pane -t upstream -p >"$name.txt"
        T capture-pane -t upstream -p -e >"$name.ansi"
        T display -t upstream -p '#{cursor_x} #{cursor_y}' >"$name.cursor"
        i=$((i + 1))
    done
    touch "$WORK/stop" "$WORK/go.$i"
    T kill-session -t upstream
    echo "upstream: $i cases"
}
[[ " $WANT " == *" upstream "* ]] && record_upstream
true
