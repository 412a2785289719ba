#!/usr/bin/env bash
# Second README command: set everything up (system packages too) and run all the tests,
# the browser UI tests included.   usage: scripts/test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/jlpm run lint:check
exec .venv/bin/python -m pytest "$@"
