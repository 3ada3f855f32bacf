#!/usr/bin/env bash
# actions/setup-python on the host. The real action takes the interpreter from the runner's
# tool cache ($RUNNER_TOOL_CACHE/Python/<version>/x64, downloading it when missing); this
# one only looks there (the harness fills it from the machine's interpreters) and, so that
# parallel jobs never share site-packages, gives each job its own virtualenv of it. The
# virtualenv sees the tool-cache interpreter's site-packages (pip, and dependencies the
# harness pre-installed: a warm cache), so `pip install` in the job only adds what is new.
set -euo pipefail

fail() { echo "::error::setup-python stand-in: $*"; exit 1; }

want="$INPUT_PYTHON_VERSION"
[ -n "$want" ] || fail "python-version is required (python-version-file is not supported)"
[[ "$want" =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || fail "python-version '$want' is not X.Y or X.Y.Z"

cache_root="${RUNNER_TOOL_CACHE:?RUNNER_TOOL_CACHE is not set}/Python"
found=""
if [ -d "$cache_root" ]; then
  found="$(cd "$cache_root" && ls -d -- */ 2>/dev/null | tr -d / |
    grep -E "^${want//./\\.}(\\.|$)" | sort -V | tail -n 1 || true)"
fi
[ -n "$found" ] || fail "The version '$want' with architecture 'x64' was not found in the tool cache ($cache_root)"
base="$cache_root/$found/x64/bin/python3"
[ -x "$base" ] || fail "$base is not an interpreter"

venv="$RUNNER_TEMP/setup-python/$found"
rm -rf "$venv"
"$base" -m venv --without-pip "$venv"
purelib="$("$base" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
venv_purelib="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$purelib" > "$venv_purelib/zz-tool-cache.pth"
echo "Python $found from the tool cache, in a fresh virtualenv at $venv"

hit=false
if [ -n "$INPUT_CACHE" ]; then
  [ "$INPUT_CACHE" = pip ] || fail "cache: '$INPUT_CACHE' is not supported (only pip)"
  patterns="${INPUT_CACHE_DEPENDENCY_PATH:-**/requirements.txt}"
  files=()
  shopt -s globstar nullglob
  while IFS= read -r pattern; do
    [ -n "$pattern" ] || continue
    # shellcheck disable=SC2206 # the pattern is a glob
    matched=( "$GITHUB_WORKSPACE"/$pattern )
    files+=("${matched[@]}")
  done <<< "$patterns"
  shopt -u globstar nullglob
  [ "${#files[@]}" -gt 0 ] || fail "No file in $GITHUB_WORKSPACE matched to [$patterns], make sure you have checked out the target repository"
  hash="$(cat "${files[@]}" | sha256sum | cut -c1-16)"
  key="setup-python-${RUNNER_OS:-Linux}-x64-python-$found-pip-$hash"
  dir="${STANDIN_CACHE:?STANDIN_CACHE is not set}/$key"
  [ -d "$dir" ] && hit=true
  mkdir -p "$dir"
  echo "pip cache: $key (hit: $hit)"
  echo "PIP_CACHE_DIR=$dir" >> "$GITHUB_ENV"
fi

if [ "$INPUT_UPDATE_ENVIRONMENT" = "true" ]; then
  echo "$venv/bin" >> "$GITHUB_PATH"
  {
    echo "pythonLocation=$venv"
    echo "Python_ROOT_DIR=$venv"
    echo "Python3_ROOT_DIR=$venv"
  } >> "$GITHUB_ENV"
fi
{
  echo "python-version=$found"
  echo "python-path=$venv/bin/python"
  echo "cache-hit=$hit"
} >> "$GITHUB_OUTPUT"
