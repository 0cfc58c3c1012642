#!/usr/bin/env bash
# Start or stop a real LMCache MP server (CPU only, loopback only) for the live tests.
#
#   scripts/lmcache-live.sh start    # venv (if missing) + server + short traffic burst, prints exports
#   scripts/lmcache-live.sh stop     # stops the server started by `start`
#   scripts/lmcache-live.sh status   # is it up?
#   scripts/lmcache-live.sh install  # only create the venv
#
# Environment:
#   LMCACHE_VENV       venv folder (default: .venv-lmcache at the repository top)
#   LMCACHE_LIVE_DIR   state folder: server log, pid, ports (default: $LMCACHE_VENV/live)
#   LMCACHE_L1_GB      L1 size in GB (default 0.05)
#   LMCACHE_BENCH_END  requests in the traffic burst (default 4)
#   PYTHON             interpreter used to create the venv (default: python3.11, else python3)
#
# Everything binds to 127.0.0.1. Usage telemetry is switched off (LMCACHE_TRACK_USAGE=false,
# DO_NOT_TRACK=1). The traffic burst is bounded in count (--end) and in time (timeout).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LMCACHE_VENV:-$ROOT/.venv-lmcache}"
STATE="${LMCACHE_LIVE_DIR:-$VENV/live}"
L1_GB="${LMCACHE_L1_GB:-0.05}"
BENCH_END="${LMCACHE_BENCH_END:-4}"
LMCACHE_VERSION="0.5.6"
TORCH_VERSION="2.13.0"

export LMCACHE_TRACK_USAGE=false
export DO_NOT_TRACK=1
export LMCACHE_DISABLE_BANNER=1
export PYTHONWARNINGS=ignore

log() { printf '%s %s\n' "[lmcache-live]" "$*" >&2; }

pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
  if command -v python3.11 >/dev/null 2>&1; then echo python3.11; else echo python3; fi
}

install_venv() {
  if [[ -x "$VENV/bin/lmcache" ]] && "$VENV/bin/python" -c "import lmcache" >/dev/null 2>&1; then
    return 0
  fi
  local py t0 t1
  py="$(pick_python)"
  t0=$(date +%s)
  log "creating venv $VENV with $py"
  "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  log "pip install torch==$TORCH_VERSION lmcache==$LMCACHE_VERSION"
  # pip's "Location ... is ignored" notes about local index folders are noise here.
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION" "lmcache==$LMCACHE_VERSION" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  t1=$(date +%s)
  log "install took $((t1 - t0)) s"
}

free_port() {
  "$VENV/bin/python" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

is_running() {
  [[ -f "$STATE/server.pid" ]] && kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null
}

wait_healthy() {
  local url="$1" deadline=$(( $(date +%s) + ${2:-120} ))
  while (( $(date +%s) < deadline )); do
    if ! is_running; then
      log "server exited during startup; last log lines:"
      tail -n 20 "$STATE/server.log" >&2 || true
      return 1
    fi
    if "$VENV/bin/python" - "$url" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/healthcheck", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
    then return 0; fi
    sleep 0.5
  done
  log "server did not become healthy in time"
  return 1
}

start() {
  if is_running; then
    log "already running (pid $(cat "$STATE/server.pid"))"
    print_exports
    return 0
  fi
  install_venv
  mkdir -p "$STATE"
  local zmq_port http_port t0 t1
  zmq_port="$(free_port)"
  http_port="$(free_port)"
  while [[ "$http_port" == "$zmq_port" ]]; do http_port="$(free_port)"; done
  echo "$zmq_port" >"$STATE/zmq_port"
  echo "$http_port" >"$STATE/http_port"
  : >"$STATE/server.log"
  t0=$(date +%s.%N)
  log "starting lmcache server (zmq 127.0.0.1:$zmq_port, http 127.0.0.1:$http_port, L1 ${L1_GB} GB)"
  # setsid: the server gets its own process group, so `stop` ends it and only it.
  setsid "$VENV/bin/lmcache" server \
    --host 127.0.0.1 --port "$zmq_port" \
    --http-host 127.0.0.1 --http-port "$http_port" \
    --l1-size-gb "$L1_GB" --eviction-policy LRU --chunk-size 16 \
    --instance-id inferguard-live \
    >>"$STATE/server.log" 2>&1 </dev/null &
  echo $! >"$STATE/server.pid"
  wait_healthy "http://127.0.0.1:$http_port" 180
  t1=$(date +%s.%N)
  log "server healthy after $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s"
  traffic
  print_exports
}

traffic() {
  local zmq_port http_port
  zmq_port="$(cat "$STATE/zmq_port")"
  http_port="$(cat "$STATE/http_port")"
  log "traffic burst: lmcache bench server --mode cpu (requests 0..$BENCH_END, loopback)"
  if ! timeout 120 "$VENV/bin/lmcache" bench server --mode cpu --transfer-mode lmcache_driven \
      --rpc-url "tcp://127.0.0.1:$zmq_port" --url "http://127.0.0.1:$http_port" \
      --num-tokens 64 --start 0 --end "$BENCH_END" --interval 0.2 \
      --format json --output "$STATE/bench.json" \
      >"$STATE/bench.log" 2>&1 </dev/null; then
    log "traffic burst did not finish cleanly (see $STATE/bench.log); the server stays up"
  fi
}

print_exports() {
  local http_port
  http_port="$(cat "$STATE/http_port")"
  echo "export INFERGUARD_LMCACHE_HTTP_URL=http://127.0.0.1:$http_port INFERGUARD_LMCACHE_LOG=$STATE/server.log"
}

stop() {
  if ! [[ -f "$STATE/server.pid" ]]; then
    log "not running"
    return 0
  fi
  local pid
  pid="$(cat "$STATE/server.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    # The server was started with setsid, so its pid is its process group id.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/server.pid"
  log "stopped (log kept at $STATE/server.log)"
}

status() {
  if is_running; then
    log "running (pid $(cat "$STATE/server.pid"))"
    print_exports
  else
    log "not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  install) install_venv ;;
  traffic) traffic ;;
  *) echo "usage: $0 start|stop|status|install|traffic" >&2; exit 2 ;;
esac
