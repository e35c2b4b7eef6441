#!/usr/bin/env bash
# Everything for the Python SDK: install, type-check, test, build the wheel, and run the
# seed quickstart from a fresh virtualenv that has only the wheel installed.
#
#   J0_BIN=/path/to/j0 sdks/python/scripts/test.sh     (default: <repo>/target/debug/j0)
set -euo pipefail

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$SDK_DIR/../.." && pwd)"
export J0_BIN="${J0_BIN:-$REPO_ROOT/target/debug/j0}"
PYTHON="${PYTHON:-python3}"
VENV="${J0_PYTHON_VENV:-$REPO_ROOT/target/python-sdk-venv}"

if [ ! -x "$J0_BIN" ]; then
  echo "j0 binary not found at $J0_BIN (build it or set J0_BIN)" >&2
  exit 1
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== install (venv at $VENV)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e "$SDK_DIR[dev]"

echo "== mypy --strict"
(cd "$SDK_DIR" && "$VENV/bin/python" -m mypy --strict src tests hatch_build.py)

echo "== wheel"
"$VENV/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$SDK_DIR"
WHEEL="$(ls "$WORK"/dist/j0-0.1.0-*.whl)"
echo "built $(basename "$WHEEL")"

echo "== quickstart from a fresh virtualenv with only the wheel"
"$PYTHON" -m venv "$WORK/user-venv"
"$WORK/user-venv/bin/python" -m pip install --quiet "$WHEEL"
mkfifo "$WORK/server-in"
"$PYTHON" "$SDK_DIR/tests/j0_server.py" --env J0_SIGNUP_PROMO_CENTS=1000 \
  <"$WORK/server-in" >"$WORK/server-out" &
SERVER_PID=$!
exec 3>"$WORK/server-in"  # the helper keeps the server up until this closes
for _ in $(seq 1 300); do
  [ -s "$WORK/server-out" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server helper exited" >&2; exit 1; }
  sleep 0.2
done
BASE_URL="$(head -n1 "$WORK/server-out")"
KEY="$("$WORK/user-venv/bin/python" -c 'import secrets; print("0x" + secrets.token_hex(32))')"
mkdir "$WORK/user-project"
# The seed document's quickstart, word for word, with the fresh key in place of "0x...".
sed "s/\"0x\.\.\.\"/\"$KEY\"/" "$SDK_DIR/tests/fixtures/quickstart.py.txt" \
  >"$WORK/user-project/quickstart.py"
OUTPUT="$(cd "$WORK/user-project" && J0_BASE_URL="$BASE_URL" "$WORK/user-venv/bin/python" quickstart.py)"
echo "$OUTPUT"
[[ "$OUTPUT" =~ ^Job\ posted:\ [0-9]+$ ]] || { echo "unexpected quickstart output" >&2; exit 1; }
exec 3>&-  # stop the server: the helper audits the ledger, then exits non-zero on a breach
wait "$SERVER_PID"
SERVER_PID=""

echo "== pytest"
cd "$SDK_DIR"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider
