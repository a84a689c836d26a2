#!/usr/bin/env bash
# Run a command with a profile's service addresses and secrets in the environment.
#   scripts/with-env.sh demo|test COMMAND [ARGS...]
# Variables already set in the caller's environment win over the files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=$1; shift
state="$root/var/$profile"
mkdir -p "$state"
secrets="$state/secrets"
if [ ! -f "$secrets" ]; then
  umask 077
  {
    echo "SESSION_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
    echo "DEMO_PASSWORD=demo-$(head -c 6 /dev/urandom | base64 | tr -d '/+=\n')"
  } >"$secrets"
fi
# secrets added since a profile's file was made
if ! grep -q '^SHARE_HOLD_KEY=' "$secrets"; then
  echo "SHARE_HOLD_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')" >>"$secrets"
fi
for f in "$state/env" "$secrets"; do
  [ -f "$f" ] || continue
  while IFS='=' read -r k v; do
    [ -n "$k" ] || continue
    [ -n "${!k:-}" ] || export "$k=$v"
  done <"$f"
done
export S3_BUCKET_PREFIX=${S3_BUCKET_PREFIX:-tenderhall-$profile}
export DEV_CA_DIR=${DEV_CA_DIR:-$state/ca}
# the built-in timestamp authority, once `tenderhall demo-pki` has made its certificate
if [ -z "${TSA_CERT_FILE:-}" ] && [ -f "$DEV_CA_DIR/tsa/tsa.crt.pem" ]; then
  export TSA_CERT_FILE="$DEV_CA_DIR/tsa/tsa.crt.pem" TSA_KEY_FILE="$DEV_CA_DIR/tsa/tsa.key.pem"
fi
# the platform's seal on official PDFs, likewise
if [ -z "${PLATFORM_CERT_FILE:-}" ] && [ -f "$DEV_CA_DIR/platform/platform.crt.pem" ]; then
  export PLATFORM_CERT_FILE="$DEV_CA_DIR/platform/platform.crt.pem"
  export PLATFORM_KEY_FILE="$DEV_CA_DIR/platform/platform.key.pem"
fi
export PATH="$root/.venv/bin:$PATH"
exec "$@"
