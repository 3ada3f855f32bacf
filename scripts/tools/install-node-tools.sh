#!/usr/bin/env bash
# Install the pinned Node tools (package.json + package-lock.json) into node_modules/, only
# when package-lock.json changed since the last install. `npm ci` installs exactly the
# lock and runs no install scripts; after it, the tools run offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
NPM="${NPM:-npm}"
stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "install-node-tools: npm ci (package-lock.json changed or node_modules missing)"
  "$NPM" ci --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
