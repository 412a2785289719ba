#!/usr/bin/env bash
# First README command: set everything up and launch JupyterLab on the demo release
# (built on first use, about two minutes on 2 cores).   usage: scripts/launch.sh [jupyter lab options]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"  # jlpm, jupyter-builder and friends call each other by name
bash scripts/setup.sh
exec .venv/bin/lsstbox lab "$@"
