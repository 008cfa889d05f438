#!/usr/bin/env bash
# Install the test dependencies (Mosquitto through apt when root) and run the whole suite, with lint and types.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]] || need_apt+=(mosquitto)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if ((${#need_apt[@]})); then
  if [[ $(id -u) == 0 ]]; then
    echo "installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "the tests need: ${need_apt[*]}. Install with: sudo apt-get install -y ${need_apt[*]}  (then run this again)" >&2
    exit 1
  fi
fi

# Optional: headless Chromium for the report's rendering test (it skips with a reason when Chromium is absent).
if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  echo "installing chromium with apt-get (for the report rendering test)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || echo "chromium could not be installed: the report rendering test will be skipped" >&2
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy processing sensor hipsense
.venv/bin/python -m pytest "$@"
