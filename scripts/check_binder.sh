#!/usr/bin/env bash
# The Binder set-up (binder/postBuild, binder/start) checked as repo2docker runs it: a clean copy of
# the repository (its tracked and new files; nothing git ignores, so no built extension, no
# node_modules), a fresh Python 3.11 venv first on PATH and a fresh HOME; binder/postBuild there
# (pip install . builds the extension and the widgets' bundles, the tiny release goes to
# $HOME/releases/tiny); then JupyterLab through binder/start on a free port, whose /lab, default URL
# (the first tutorial), /lsstbox/api/release (the tiny release) and widget bundles must answer.
# pip's, npm's and yarn's caches stay the caller's, so a second run downloads nothing.
# usage: scripts/check_binder.sh   (scripts/test.sh runs it; LSSTBOX_SKIP_BINDER_CHECK=1 skips it there;
# LSSTBOX_KEEP_BINDER_CHECK=1 keeps the work folder and its logs)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
T0=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lsstbox-binder.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 75); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "${LSSTBOX_KEEP_BINDER_CHECK:-}" ]; then echo "check_binder: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
fail() {
  echo "check_binder: $1" >&2
  [ -f "$2" ] && tail -n 60 "$2" >&2
  exit 1
}

# the caller's download caches, found before HOME moves
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$("$PY" -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")}"
export npm_config_cache="${npm_config_cache:-$HOME/.npm}"
export YARN_GLOBAL_FOLDER="${YARN_GLOBAL_FOLDER:-$HOME/.yarn/berry}"
# nothing of the caller's environment points into its own venv, release or Jupyter set-up
CLEAN_PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -F "$REPO/.venv" | paste -sd: -)
unset VIRTUAL_ENV PYTHONPATH LSSTBOX_RELEASE LSSTBOX_HOME JUPYTER_CONFIG_DIR JUPYTER_DATA_DIR \
  JUPYTER_RUNTIME_DIR JUPYTER_PATH JUPYTER_CONFIG_PATH JUPYTERHUB_USER
export HOME="$WORK/home" PATH="$WORK/venv/bin:$CLEAN_PATH"
mkdir -p "$WORK/repo" "$HOME"

git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar -C "$REPO" --null -T - -cf - | tar -C "$WORK/repo" -xf -
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --upgrade pip

echo "check_binder: binder/postBuild in a fresh venv and HOME ($WORK)"
T1=$(date +%s)
(cd "$WORK/repo" && bash binder/postBuild) >"$WORK/postBuild.log" 2>&1 || fail "binder/postBuild failed" "$WORK/postBuild.log"
T2=$(date +%s)

PORT=$("$WORK/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=$("$WORK/venv/bin/python" -c 'import secrets; print(secrets.token_hex(16))')
ROOT=()
[ "$(id -u)" = 0 ] && ROOT=(--allow-root)
(cd "$WORK/repo" && exec bash binder/start jupyter lab --no-browser --ip=127.0.0.1 --port="$PORT" \
  --ServerApp.port_retries=0 --IdentityProvider.token="$TOKEN" "${ROOT[@]}") >"$WORK/lab.log" 2>&1 &
SERVER_PID=$!

"$WORK/venv/bin/python" - "$PORT" "$TOKEN" "$HOME/releases/tiny" >"$WORK/check.log" 2>&1 <<'EOF' || fail "JupyterLab from binder/start did not pass: $(tail -n 5 "$WORK/check.log")" "$WORK/lab.log"
import json, sys, time, urllib.error, urllib.request

port, token, release = sys.argv[1:]
base = f"http://127.0.0.1:{port}"


def get(path, **headers):
    req = urllib.request.Request(base + path, headers={"Authorization": f"token {token}", **headers})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.geturl(), r.read()


deadline = time.monotonic() + 180
while True:
    try:
        if get("/api/status")[0] == 200:
            break
    except (urllib.error.URLError, ConnectionError):
        pass
    if time.monotonic() > deadline:
        sys.exit("JupyterLab did not answer /api/status in 180 s")
    time.sleep(0.5)
status, _, page = get("/lab")
assert status == 200 and b"@lsstbox/jupyterlab" in page, "/lab does not load the box's extension"
status, url, _ = get("/")
tutorial = "/lab/tree/docs/tutorials/01-getting-started.ipynb"
assert url.endswith(tutorial), f"the default URL is {url}, not the first tutorial"
assert get("/api/contents" + tutorial[len("/lab/tree"):] + "?content=0")[0] == 200
status, _, body = get("/lsstbox/api/release")
summary = json.loads(body)
assert status == 200 and summary["profile"] == "tiny" and summary["root"] == release, summary
for bundle in ("sky.js", "skycore.js", "table.js", "image.js"):
    assert get(f"/lsstbox/static/{bundle}")[0] == 200, bundle
print(f"ok: {summary['name']} ({summary['profile']}) at {summary['root']}")
EOF
T3=$(date +%s)
echo "check_binder: ok -- $(tail -n 1 "$WORK/check.log"); postBuild $((T2 - T1)) s, server $((T3 - T2)) s," \
  "total $((T3 - T0)) s"
