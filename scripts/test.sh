#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace, with a real
# S3-compatible server (moto) started on 127.0.0.1 for the vault tests and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
# One build from scratch: incremental caches would only add gigabytes to the target folder.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "== cargo doc (broken links are errors)"
# The library crates enable no k8s-openapi version feature (their users choose one); name one
# for this documentation build only.
K8S_OPENAPI_ENABLED_VERSION=1.33 RUSTDOCFLAGS="-D warnings" \
  cargo doc --workspace --no-deps --all-features --quiet

# --- the Python tools: moto (the S3 test server) and the Kubernetes Python client ----------
# The client is pinned: 32.x is generated from Kubernetes 1.32, the newest release the
# simulator serves (csdr-kube/tests/python_client.rs runs it against the 1.16 and 1.28
# profiles). Pinning it also spares pip a long backtracking search next to moto's deps.
VENV="${CSDR_VENV:-$PWD/.venv}"
KUBERNETES_CLIENT_VERSION="32.0.1"
if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c \
  "import kubernetes, sys; sys.exit(kubernetes.__version__ != '$KUBERNETES_CLIENT_VERSION')" 2>/dev/null; then
  echo "== installing moto[server] and kubernetes==$KUBERNETES_CLIENT_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]" \
    "kubernetes==$KUBERNETES_CLIENT_VERSION"
fi
# The Python client suite uses this venv's interpreter.
export CSDR_VENV="$VENV"

# --- system tools the tests drive: age (client-side encryption's wrapped keys open with it) and
# restic (it lists, checks and restores the volume repositories csdr writes) -----------------
MISSING=""
for tool in age restic; do command -v "$tool" >/dev/null 2>&1 || MISSING="$MISSING $tool"; done
if [ -n "$MISSING" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing$MISSING"
    apt-get update -qq && apt-get install -y -qq $MISSING >/dev/null
  else
    echo "missing$MISSING and this is not root: install them (apt-get install$MISSING) for the encryption and volume tests"
  fi
fi

# --- the S3 test server -------------------------------------------------------------------
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
cleanup() { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then echo "moto_server died:"; cat "$LOG"; exit 1; fi
  sleep 0.2
done
export CSDR_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
export CSDR_TEST_S3_BUCKET="csdr-test"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
"$VENV/bin/python" - <<PY
import boto3
boto3.client("s3", endpoint_url="$CSDR_TEST_S3_ENDPOINT").create_bucket(Bucket="$CSDR_TEST_S3_BUCKET")
PY
echo "== S3 test server on $CSDR_TEST_S3_ENDPOINT (bucket $CSDR_TEST_S3_BUCKET)"

echo "== cargo test"
cargo test --workspace --all-features
