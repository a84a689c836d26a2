#!/usr/bin/env bash
# Install the Debian packages the platform needs, when they are missing.
#   scripts/sysdeps.sh                 everything for demo and tests
#   scripts/sysdeps.sh PKG [PKG...]    just those
# python3-venv and curl for the scripts themselves, fonts (CJK for Chinese PDFs), poppler (pdfsig, pdftoppm), Redis, zip (bids
# built with plain tools in the tests), Chromium for
# the browser tests. Ceph is installed by scripts/ceph.sh when it first runs.
set -euo pipefail
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(python3-venv curl fonts-noto-cjk poppler-utils libnss3-tools redis-server chromium zip softhsm2)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
