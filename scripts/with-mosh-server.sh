#!/usr/bin/env bash
# Run COMMAND against a fresh upstream mosh-server on loopback, then stop the server.
#
# usage: scripts/with-mosh-server.sh COMMAND [ARGS...]
#   Starts `mosh-server new -i 127.0.0.1 -p <free port> -l LANG=C.UTF-8 -- /bin/sh`, parses
#   `MOSH CONNECT <port> <key>` (stdout) and the daemon's pid (`detached, pid = N]`, stderr),
#   exports MOSHKIT_TEST_HOST=127.0.0.1, MOSHKIT_TEST_PORT, MOSHKIT_TEST_KEY and
#   MOSHKIT_TEST_SERVER_PID, runs COMMAND,
#   and always kills the server by pid afterwards (also on failure or a signal). Exit status =
#   COMMAND's. Needs `mosh-server` (Debian package `mosh`).
#   When COMMAND fails, one line says whether the server was still running then (if not: how
#   long after its start, and its own stderr): upstream mosh-server exits after 60 s without
#   a client, so a client that starts too late fails with only a "no contact" symptom.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
command -v mosh-server >/dev/null || { echo "with-mosh-server: mosh-server not installed (apt-get install mosh)" >&2; exit 2; }

ERR=$(mktemp); OUT=$(mktemp)
PID=""
stop_server() {
  # (an EXIT trap under set -e: no command here may fail, or it would replace the exit status)
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -f "$ERR" "$OUT"
}
trap stop_server EXIT
trap 'exit 143' INT TERM

# A random 100-port range: mosh-server takes the first free port in it.
FIRST=$((20000 + RANDOM % 30000))
env -u SSH_CONNECTION LANG=C.UTF-8 mosh-server new -i 127.0.0.1 -p "$FIRST:$((FIRST + 99))" \
  -l LANG=C.UTF-8 -- /bin/sh </dev/null >"$OUT" 2>"$ERR"
read -r _ _ PORT KEY <<<"$(grep -m1 '^MOSH CONNECT ' "$OUT" | tr -d '\r')" || true
PID=$(sed -n 's/.*detached, pid = \([0-9]*\)\].*/\1/p' "$ERR" | head -n1)
if [ -z "${PORT:-}" ] || [ -z "${KEY:-}" ] || [ -z "$PID" ]; then
  echo "with-mosh-server: could not start mosh-server:" >&2; cat "$OUT" "$ERR" >&2; exit 1
fi
echo "with-mosh-server: mosh-server pid $PID on 127.0.0.1:$PORT" >&2
STARTED=$SECONDS
export MOSHKIT_TEST_HOST=127.0.0.1 MOSHKIT_TEST_PORT=$PORT MOSHKIT_TEST_KEY=$KEY MOSHKIT_TEST_SERVER_PID=$PID
set +e
"$@"
RC=$?
set -e
if [ $RC != 0 ]; then
  # The server is not our child: kill -0 tells whether it is still there.
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "with-mosh-server: mosh-server pid $PID was gone when the client failed" \
      "$((SECONDS - STARTED)) s after the server started (it exits after 60 s without a" \
      "client); its stderr: $(grep -v -e '^mosh-server (mosh' -e Copyright -e 'License GPL' \
        -e 'free software' -e 'NO WARRANTY' -e '^ *$' "$ERR" | tr '\n' ' ')" >&2
  else
    echo "with-mosh-server: mosh-server pid $PID was still running when the client failed" >&2
  fi
fi
exit $RC
