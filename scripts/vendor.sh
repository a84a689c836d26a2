#!/usr/bin/env bash
# Third-party browser assets the pages serve from static/vendor (never from a CDN: the
# Content-Security-Policy allows scripts and styles from the platform's own origin only).
# The files are committed; this script reproduces them from the npm registry:
#   scripts/vendor.sh        fetch the pinned versions into static/vendor/
set -euo pipefail

SWAGGER_UI_VERSION=5.35.0   # swagger-ui-dist, Apache-2.0

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
