#!/usr/bin/env bash
# Re-capture fixtures/diagnosis/l1-too-small-0.5.6-cpu: a real LMCache 0.5.6 MP server (CPU only,
# loopback only) whose L1 is smaller than one request's chunks, driven by the package's own bench
# with repeated prompts, then collected with `inferguard collect-lmcache`.
#
#   scripts/capture-l1-too-small.sh OUT_DIR
#
# OUT_DIR receives: server.log (the server's stderr), bench_pass1.log / bench_pass2.log (+ .json),
# lookup_hash/ (the server's lookup-hash JSONL), packet/ (what collect-lmcache wrote) and
# commands.txt (every command as run, with versions and the date). Cutting the fixture from it is
# by hand and described in the fixture's PROVENANCE.yaml.
#
# Environment:
#   LMCACHE_VENV  venv holding torch==2.13.0 and lmcache==0.5.6 (default /tmp/venv-lmc; created
#                 with `python3.11 -m venv` + pip when missing)
#   INFERGUARD    the inferguard command (default: inferguard on PATH)
#   L1_GB         L1 size in GB (default 0.05: 25 chunks of 2 MiB with the bench's default KV shape;
#                 one request of 512 tokens is 32 chunks, so it never fits)
#   NUM_TOKENS    tokens per request (default 512, i.e. 32 chunks of 16 tokens)
#   BENCH_END     requests per pass (default 8); two passes over the same sequence numbers,
#                 so every prompt of pass 2 repeats one of pass 1
set -euo pipefail

OUT="${1:?usage: $0 OUT_DIR}"
VENV="${LMCACHE_VENV:-/tmp/venv-lmc}"
INFERGUARD="${INFERGUARD:-inferguard}"
L1_GB="${L1_GB:-0.05}"
NUM_TOKENS="${NUM_TOKENS:-512}"
BENCH_END="${BENCH_END:-8}"

export LMCACHE_TRACK_USAGE=false DO_NOT_TRACK=1 LMCACHE_DISABLE_BANNER=1 PYTHONWARNINGS=ignore

log() { printf '[capture] %s\n' "$*" >&2; }

if ! [[ -x "$VENV/bin/lmcache" ]]; then
  log "creating $VENV"
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.13.0 lmcache==0.5.6
fi

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ZMQ_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
while [[ "$HTTP_PORT" == "$ZMQ_PORT" ]]; do HTTP_PORT="$(free_port)"; done

CMDS="$OUT/commands.txt"
{
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# python: $("$VENV/bin/python" --version 2>&1)"
  echo "# lmcache: $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("lmcache"))')"
  echo "# torch: $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
  echo "# inferguard: $("$INFERGUARD" --version 2>&1 || true)"
  echo "# env: LMCACHE_TRACK_USAGE=false DO_NOT_TRACK=1 LMCACHE_DISABLE_BANNER=1 PYTHONWARNINGS=ignore"
} >"$CMDS"

SERVER_CMD=("$VENV/bin/lmcache" server --host 127.0.0.1 --port "$ZMQ_PORT"
  --http-host 127.0.0.1 --http-port "$HTTP_PORT" --l1-size-gb "$L1_GB" --eviction-policy LRU
  --chunk-size 16 --lookup-hash-log-dir "$OUT/lookup_hash" --instance-id l1-too-small)
echo "${SERVER_CMD[*]}" >>"$CMDS"
log "server: L1 ${L1_GB} GB, zmq 127.0.0.1:$ZMQ_PORT, http 127.0.0.1:$HTTP_PORT"
setsid "${SERVER_CMD[@]}" >"$OUT/server.log" 2>&1 </dev/null &
SERVER_PID=$!
stop_server() {
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT

deadline=$(( $(date +%s) + 180 ))
until "$VENV/bin/python" -c "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/healthcheck', timeout=2).status == 200 else 1)" 2>/dev/null; do
  kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited"; tail -n 20 "$OUT/server.log" >&2; exit 1; }
  (( $(date +%s) < deadline )) || { log "server not healthy in time"; exit 1; }
  sleep 0.5
done

for pass in 1 2; do
  BENCH_CMD=("$VENV/bin/lmcache" bench server --mode cpu --transfer-mode lmcache_driven
    --rpc-url "tcp://127.0.0.1:$ZMQ_PORT" --url "http://127.0.0.1:$HTTP_PORT"
    --num-tokens "$NUM_TOKENS" --start 0 --end "$BENCH_END" --interval 0.2
    --format json --output "$OUT/bench_pass$pass.json")
  echo "${BENCH_CMD[*]}" >>"$CMDS"
  log "bench pass $pass"
  timeout 300 "${BENCH_CMD[@]}" >"$OUT/bench_pass$pass.log" 2>&1 </dev/null || log "bench pass $pass exited $?"
done

COLLECT_CMD=("$INFERGUARD" collect-lmcache --output-dir "$OUT/packet"
  --lmcache-http-base-url "http://127.0.0.1:$HTTP_PORT" --lmcache-log-file "$OUT/server.log"
  --lmcache-lookup-hash-path "$OUT/lookup_hash" --expect-mode mp)
echo "${COLLECT_CMD[*]}" >>"$CMDS"
log "collect-lmcache"
"${COLLECT_CMD[@]}" || log "collect-lmcache exited $?"
stop_server
trap - EXIT
log "done: $OUT"
