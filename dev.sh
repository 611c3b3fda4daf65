#!/usr/bin/env bash
# One entry point for people and CI:
#   ./dev.sh ui     set everything up, open the workbench in the browser on a bundled sample
#   ./dev.sh test   set everything up, then lint, type-check and run the whole test suite
#   ./dev.sh setup  only set up (.venv with the package and its extras)
set -euo pipefail
cd "$(dirname "$0")"

VENV="${TRT_WORKBENCH_VENV:-.venv}"
PY="$VENV/bin/python"
TORCH_PIN="torch==2.13.0"
TRT_STUBS="tensorrt-stubs==10.13.0.35.1"

log() { printf '\n== %s\n' "$*" >&2; }

setup() {
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  "$PY" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  # torch first, pinned: its CPU build is what ModelOpt's ONNX path needs here, and an
  # unpinned torch pulls several GB of CUDA packages.
  if ! "$PY" -c "import torch" 2>/dev/null; then
    log "installing $TORCH_PIN"
    "$PY" -m pip install -q "$TORCH_PIN" 2>&1 | grep -v "is ignored" || true
  fi
  log "installing trt-workbench with extras $1"
  "$PY" -m pip install -q -e ".[$1]" 2>&1 | grep -v "is ignored" || true
  "$PY" -c "import workbench, onnx, onnxruntime, polygraphy, streamlit" \
    || { echo "setup failed: the package does not import" >&2; exit 1; }
  # An editable install gets no bytecode, and PYTHONDONTWRITEBYTECODE (set on our machines)
  # keeps Python from writing any: compile once, as a regular pip install does, so every
  # command does not recompile the package from source.
  "$PY" -m compileall -q workbench >/dev/null
}

install_test_tools() {
  # Type stubs of the TensorRT 10.13 API, kept out of the venv: the stub package installs a
  # bare tensorrt/ folder that would import as an empty module. mypy reads them from .typings.
  if [ ! -d .typings/tensorrt ]; then
    log "installing $TRT_STUBS into .typings (for mypy only)"
    "$PY" -m pip install -q --no-deps --target .typings "$TRT_STUBS" 2>&1 | grep -v "is ignored" || true
    "$PY" .ci/patch_tensorrt_stubs.py .typings
  fi
  # Debian's chromium for the real-browser tests (never `playwright install`).
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing chromium (Debian package)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "chromium is missing and cannot be installed here: browser tests will be skipped" >&2
    fi
  fi
}

case "${1:-}" in
  setup)
    setup "rtx,quant,test,notebook"
    ;;
  ui)
    setup "rtx,quant"
    shift
    exec "$VENV/bin/trt-workbench" ui --sample "${SAMPLE:-resnet_cnn.onnx}" "$@"
    ;;
  test)
    setup "rtx,quant,test,notebook"
    install_test_tools
    shift
    log "ruff"
    "$VENV/bin/ruff" check workbench tests app.py sample_models benchmarks .ci
    log "mypy"
    "$VENV/bin/mypy"
    log "pytest"
    "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh ui | test [pytest args] | setup" >&2
    exit 2
    ;;
esac
