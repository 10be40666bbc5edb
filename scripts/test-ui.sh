#!/usr/bin/env bash
# Browser tests of the Pipeline sidebar (galata + Debian's Chromium) and the
# TypeScript unit tests.  Installs what they need: apt chromium, the JS
# dependencies (jlpm), the extension built into the venv.  Exits non-zero on
# any failure.  JupyterLab binds 127.0.0.1 only and is stopped by its PID.
#
#   scripts/test-ui.sh            everything
#   scripts/test-ui.sh -g restart extra arguments go to `playwright test`
#   NB2PIPE_UI_SPECS=tests/canvas.spec.ts scripts/test-ui.sh   only those spec files
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
export PATH="$VENV/bin:$PATH"
PORT=${NB2PIPE_UI_PORT:-8899}
export NB2PIPE_UI_PORT=$PORT
t0=$(date +%s)
say() { echo "== test-ui [$(( $(date +%s) - t0 ))s] $*"; }

if [ ! -x "$PY" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -e "$ROOT[test]"
fi

if ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

say "JS dependencies"
jlpm install --immutable >/dev/null 2>&1 || jlpm install
(cd ui-tests && { jlpm install --immutable >/dev/null 2>&1 || jlpm install; })

say "TypeScript unit tests"
jlpm test

say "building the extension into the venv (pip install -e .)"
"$VENV/bin/pip" install -q --no-deps -e "$ROOT"
jupyter labextension list 2>&1 | grep -E "nb2pipe .*enabled.*OK" >/dev/null \
  || { echo "the nb2pipe labextension is not installed and enabled"; jupyter labextension list; exit 1; }

ROOT_DIR=$(mktemp -d /tmp/nb2pipe-ui-XXXXXX)
LOG=$ROOT_DIR.server.log
export JUPYTERLAB_GALATA_ROOT_DIR=$ROOT_DIR
export NB2PIPE_PROGRESS=text
say "starting JupyterLab on 127.0.0.1:$PORT (root $ROOT_DIR, log $LOG)"
if curl -s -o /dev/null "http://127.0.0.1:$PORT/lab"; then
  echo "port $PORT is already in use; set NB2PIPE_UI_PORT"; exit 1
fi
(cd ui-tests && exec jupyter lab --config jupyter_server_test_config.py >"$LOG" 2>&1) &
SERVER=$!
stop_pid() {       # SIGTERM, up to 10 s, then SIGKILL: only processes this script started
  if kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$1" 2>/dev/null || true
  fi
}
wait_for_lab() {
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/lab" && return 0
    kill -0 "$SERVER" 2>/dev/null || { cat "$LOG"; echo "JupyterLab did not start"; exit 1; }
    sleep 0.5
  done
}
stop() {
  stop_pid "$SERVER"
  rm -rf "$ROOT_DIR"
}
trap stop EXIT
wait_for_lab

say "galata tests"
status=0
# every spec but the gateway one (it needs the Kernel Gateway started below)
SPECS=${NB2PIPE_UI_SPECS:-$(cd ui-tests && ls tests/*.spec.ts | grep -v gateway.spec.ts | tr '\n' ' ')}
# shellcheck disable=SC2086
(cd ui-tests && jlpm playwright test $SPECS "$@") || status=$?
if [ $# -gt 0 ] || [ -n "${NB2PIPE_UI_SPECS:-}" ]; then
  say "done (exit $status)"
  exit $status
fi
stop

# --- remote kernel: a Kernel Gateway on 127.0.0.1, JupyterLab with --gateway-url ---
GW_PORT=${NB2PIPE_GW_PORT:-8897}
GW_TOKEN=$(python3 -c "import secrets; print(secrets.token_hex(16))")
ROOT_DIR=$(mktemp -d /tmp/nb2pipe-ui-XXXXXX)
export JUPYTERLAB_GALATA_ROOT_DIR=$ROOT_DIR
GW_DIR=$(mktemp -d /tmp/nb2pipe-gw-XXXXXX)          # the kernels start here, not beside the notebook
say "starting a Kernel Gateway on 127.0.0.1:$GW_PORT and JupyterLab on 127.0.0.1:$PORT with --gateway-url"
(cd "$GW_DIR" && exec jupyter kernelgateway --KernelGatewayApp.ip=127.0.0.1 --KernelGatewayApp.port=$GW_PORT \
   --KernelGatewayApp.auth_token=$GW_TOKEN --JupyterWebsocketPersonality.list_kernels=True \
   --config="$("$PY" -m nb2pipe.jupyter_nodelay)" \
   >"$GW_DIR.log" 2>&1) &
GATEWAY=$!
(cd ui-tests && exec jupyter lab --config jupyter_server_test_config.py \
   --gateway-url=http://127.0.0.1:$GW_PORT --GatewayClient.auth_token=$GW_TOKEN >"$LOG" 2>&1) &
SERVER=$!
stop_all() {
  stop
  stop_pid "$GATEWAY"
  rm -rf "$GW_DIR"
}
trap stop_all EXIT
wait_for_lab
(cd ui-tests && jlpm playwright test tests/gateway.spec.ts) || status=$?
say "done (exit $status)"
exit $status
