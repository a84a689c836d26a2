#!/usr/bin/env bash
# Third-party browser assets the pages serve from static/vendor (never from a CDN: the
# Content-Security-Policy allows scripts and styles from the platform's own origin only).
# The files are committed; this script reproduces them, byte for byte, from the npm registry:
#   scripts/vendor.sh        fetch the pinned versions into static/vendor/ (served) and
#                            tests/e2e/vendor/ (loaded by the browser tests only, never served)
# The in-page signing layer's libraries (PKI.js, asn1js, pvtsutils, pvutils, @noble/hashes) are
# pinned, with every dependency, by scripts/vendor/package-lock.json and bundled by esbuild (pinned
# there too) into ES modules under static/vendor/pkijs/.
set -euo pipefail

SWAGGER_UI_VERSION=5.35.0   # swagger-ui-dist, Apache-2.0
AXE_CORE_VERSION=4.14.1     # axe-core, MPL-2.0: the accessibility check of the browser tests

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "swagger-ui-dist@${SWAGGER_UI_VERSION}" >/dev/null)
tar -xzf "$work/swagger-ui-dist-${SWAGGER_UI_VERSION}.tgz" -C "$work"

dest="$root/static/vendor/swagger-ui"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE; do
  cp "$work/package/$f" "$dest/$f"
done
# The bundle's last line points at a source map that is not shipped.
sed -i '/^\/\/# sourceMappingURL=/d' "$dest/swagger-ui-bundle.js"
sed -i 's|/\*# sourceMappingURL=[^*]*\*/||' "$dest/swagger-ui.css"
echo "$SWAGGER_UI_VERSION" > "$dest/VERSION"
echo "swagger-ui-dist $SWAGGER_UI_VERSION -> ${dest#"$root"/}"

# The signing layer: install exactly what the lock file says, then bundle each entry point.
build="$work/pkijs"
mkdir -p "$build"
cp "$root/scripts/vendor/package.json" "$root/scripts/vendor/package-lock.json" \
   "$root/scripts/vendor/"*-entry.js "$build/"
(cd "$build" && npm ci --silent --ignore-scripts --no-audit --no-fund >/dev/null)
dest="$root/static/vendor/pkijs"
mkdir -p "$dest"
for name in pkijs hashes; do
  "$build/node_modules/.bin/esbuild" "$build/$name-entry.js" --bundle --format=esm \
    --platform=browser --target=es2020 --minify --legal-comments=eof --charset=utf8 \
    --log-level=warning --outfile="$dest/$name.js"
done
for pkg in pkijs asn1js pvtsutils pvutils bytestreamjs tslib @noble/hashes; do
  licence="$(ls "$build/node_modules/$pkg"/LICENSE* | head -n 1)"
  cp "$licence" "$dest/LICENSE.${pkg//\//-}"
done
{
  echo "Built by scripts/vendor.sh with esbuild $(node -p "require('$build/node_modules/esbuild/package.json').version") from:"
  for pkg in pkijs asn1js pvtsutils pvutils bytestreamjs tslib @noble/hashes; do
    echo "$pkg $(node -p "require('$build/node_modules/$pkg/package.json').version")"
  done
} > "$dest/VERSION"
echo "pkijs $(sed -n 2p "$dest/VERSION" | cut -d' ' -f2) and its dependencies -> ${dest#"$root"/}"

# axe-core: the browser tests inject it into the pages they check (tests/e2e/people.py)
(cd "$work" && npm pack --silent "axe-core@${AXE_CORE_VERSION}" >/dev/null)
mkdir -p "$work/axe" && tar -xzf "$work/axe-core-${AXE_CORE_VERSION}.tgz" -C "$work/axe"
dest="$root/tests/e2e/vendor/axe-core"
mkdir -p "$dest"
cp "$work/axe/package/axe.min.js" "$work/axe/package/LICENSE" "$dest/"
echo "$AXE_CORE_VERSION" > "$dest/VERSION"
echo "axe-core $AXE_CORE_VERSION -> ${dest#"$root"/}"
