#!/usr/bin/env bash
# Second README command: set everything up (system packages too) and run all the tests,
# the browser UI tests included.   usage: scripts/test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"  # jlpm, jupyter-builder and friends call each other by name
bash scripts/setup.sh --system --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/jlpm run lint:check
.venv/bin/jlpm test  # jest: the frontend's parsers (js/src/__tests__)
# Binder: binder/postBuild in a fresh venv and HOME, then JupyterLab through binder/start (a few
# minutes, from pip's and npm's caches once warm; LSSTBOX_SKIP_BINDER_CHECK=1 skips it)
[ "${LSSTBOX_SKIP_BINDER_CHECK:-0}" = 1 ] || bash scripts/check_binder.sh
exec .venv/bin/python -m pytest "$@"
