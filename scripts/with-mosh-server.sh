#!/usr/bin/env bash
# Run COMMAND against a fresh upstream mosh-server on loopback, then stop the server.
#
# usage: scripts/with-mosh-server.sh COMMAND [ARGS...]
#   Starts `mosh-server new -i 127.0.0.1 -p <free port> -l LANG=C.UTF-8 -- /bin/sh`, parses
#   `MOSH CONNECT <port> <key>` (stdout) and the daemon's pid (`detached, pid = N]`, stderr),
#   exports MOSHKIT_TEST_HOST=127.0.0.1, MOSHKIT_TEST_PORT and MOSHKIT_TEST_KEY, runs COMMAND,
#   and always kills the server by pid afterwards (also on failure or a signal). Exit status =
#   COMMAND's. Needs `mosh-server` (Debian package `mosh`).
#   When COMMAND fails and the server was gone before it ended, one line says so (when it was
#   last seen alive, and the server's own stderr): upstream mosh-server exits after 60 s
#   without a client, so a client that starts too late fails with only a "no contact" symptom.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
command -v mosh-server >/dev/null || { echo "with-mosh-server: mosh-server not installed (apt-get install mosh)" >&2; exit 2; }

ERR=$(mktemp); OUT=$(mktemp); GONE=$(mktemp)
PID=""; WATCH=""
stop_server() {
  [ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null
  wait 2>/dev/null
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -f "$ERR" "$OUT" "$GONE"
}
trap stop_server EXIT
trap 'exit 143' INT TERM

# A random 100-port range: mosh-server takes the first free port in it.
FIRST=$((20000 + RANDOM % 30000))
env -u SSH_CONNECTION LANG=C.UTF-8 mosh-server new -i 127.0.0.1 -p "$FIRST:$((FIRST + 99))" \
  -l LANG=C.UTF-8 -- /bin/sh </dev/null >"$OUT" 2>"$ERR"
read -r _ _ PORT KEY < <(grep -m1 '^MOSH CONNECT ' "$OUT" | tr -d '\r') || true
PID=$(sed -n 's/.*detached, pid = \([0-9]*\)\].*/\1/p' "$ERR" | head -n1)
if [ -z "${PORT:-}" ] || [ -z "${KEY:-}" ] || [ -z "$PID" ]; then
  echo "with-mosh-server: could not start mosh-server:" >&2; cat "$OUT" "$ERR" >&2; exit 1
fi
echo "with-mosh-server: mosh-server pid $PID on 127.0.0.1:$PORT" >&2
STARTED=$SECONDS
# Watch the server (it is not our child, so only kill -0 tells): record when it vanished.
( while kill -0 "$PID" 2>/dev/null; do sleep 0.5; done; echo $((SECONDS - STARTED)) >"$GONE" ) &
WATCH=$!
export MOSHKIT_TEST_HOST=127.0.0.1 MOSHKIT_TEST_PORT=$PORT MOSHKIT_TEST_KEY=$KEY
set +e
"$@"
RC=$?
set -e
if [ $RC != 0 ]; then
  sleep 0.6  # let the watcher notice a server that died with the client's last attempt
  if [ -s "$GONE" ] || ! kill -0 "$PID" 2>/dev/null; then
    echo "with-mosh-server: mosh-server pid $PID was gone before the client ended" \
      "(exited ~$(cat "$GONE" 2>/dev/null || echo "?") s after it started; the client ran" \
      "$((SECONDS - STARTED)) s; it exits after 60 s without a client); its stderr:" \
      "$(tr '\n' ' ' <"$ERR")" >&2
  else
    echo "with-mosh-server: mosh-server pid $PID was still running when the client failed" >&2
  fi
fi
exit $RC
