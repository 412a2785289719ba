#!/usr/bin/env bash
# Set up everything the box needs on a fresh machine: system packages (with --system), a Python
# virtualenv in .venv with the pinned dependency set, and the JupyterLab extension built from js/.
# Idempotent: a second run only checks.   usage: scripts/setup.sh [--system] [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"  # jlpm, jupyter-builder and friends call each other by name
SYSTEM=0; EXTRAS="dev"
for a in "$@"; do
  case "$a" in
    --system) SYSTEM=1 ;;
    --test) EXTRAS="test,dev" ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"

if [ "$SYSTEM" = 1 ]; then
  # chromium: the UI tests' browser; aladin: HipsGen for HiPS lint; stilts: TAP/VOTable validators
  need=()
  for p in chromium aladin stilts default-jre-headless git; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: apt-get install ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
command -v node >/dev/null || { echo "setup: node (>= 20) is required for the extension build" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# `jupyter labextension develop` links the built extension into the source tree; the editable
# install would then find its install.json twice (a second run of this script failed on it)
rm -f jupyterlab_lsp/labextension/install.json
.venv/bin/python -m pip install -q -c requirements/constraints.txt -e ".[$EXTRAS]"
# the editable install builds the extension through hatch-jupyter-builder; make sure it is linked
if [ ! -f jupyterlab_lsp/labextension/package.json ]; then
  .venv/bin/jlpm install --immutable
  .venv/bin/jlpm build
fi
# the notebook widgets' front ends (anywidget ESM: SkyView with Aladin Lite, ImageView and TableView,
# which bundle modules of js/src) and the sky panel's Aladin core: js/widgets, its own npm project and
# lockfile, built with esbuild into kernel_lib/widgets/static/ when missing or older than their sources
SKY_JS=kernel_lib/widgets/static/sky.js
if [ ! -f "$SKY_JS" ] || [ ! -f kernel_lib/widgets/static/table.js ] || [ -n "$(find js/widgets/src \
    js/widgets/build.mjs js/widgets/package.json js/widgets/package-lock.json js/src js/style \
    -newer "$SKY_JS" -print -quit)" ]; then
  echo "setup: building the notebook widgets (js/widgets)"
  (
    cd js/widgets
    [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error
    npm run --silent build
  )
fi
# JupyterHub's proxy for the classroom deployment and its test (deploy/classroom,
# tests/test_classroom_hub.py): configurable-http-proxy from npm, kept inside the venv (.venv/chp)
# and linked into .venv/bin; installed once per venv
CHP_VERSION=5.3.0
CHP_PACKAGE=.venv/chp/node_modules/configurable-http-proxy/package.json
if [ "$EXTRAS" != dev ] && ! grep -qs "\"version\": \"$CHP_VERSION\"" "$CHP_PACKAGE"; then
  echo "setup: installing configurable-http-proxy $CHP_VERSION into .venv/chp"
  npm install --prefix .venv/chp --no-audit --no-fund --loglevel=error "configurable-http-proxy@$CHP_VERSION"
fi
[ ! -x .venv/chp/node_modules/.bin/configurable-http-proxy ] ||
  ln -sf ../chp/node_modules/.bin/configurable-http-proxy .venv/bin/configurable-http-proxy
.venv/bin/jupyter labextension develop --overwrite . >/dev/null
.venv/bin/jupyter server extension enable jupyterlab_lsp --sys-prefix >/dev/null
echo "setup: ok ($(.venv/bin/python -c 'import jupyterlab_lsp; print(jupyterlab_lsp.__version__)'))"
