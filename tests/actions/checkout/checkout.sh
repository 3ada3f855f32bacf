#!/usr/bin/env bash
# actions/checkout, the parts our workflows use, on the host. The git commands are the ones
# the real action logs (src/git-source-provider.ts): init, add the remote, fetch the
# event's commit into the same remote-tracking ref, check it out, and persist the token
# as an http.extraheader only when persist-credentials is true.
set -euo pipefail

fail() { echo "::error::checkout stand-in: $*"; exit 1; }

url="${STANDIN_GIT_URL:-}"
[ -n "$url" ] || fail "STANDIN_GIT_URL is not set: the harness points it at the repository under test"
[ "$INPUT_REPOSITORY" = "$GITHUB_REPOSITORY" ] ||
  fail "only the repository under test ($GITHUB_REPOSITORY) can be checked out, not $INPUT_REPOSITORY"
case "$INPUT_FETCH_DEPTH" in ''|*[!0-9]*) fail "fetch-depth must be a number, got '$INPUT_FETCH_DEPTH'";; esac

dest="$GITHUB_WORKSPACE"
if [ -n "$INPUT_PATH" ]; then
  case "$INPUT_PATH" in /*|*..*) fail "Repository path '$INPUT_PATH' is not under '$GITHUB_WORKSPACE'";; esac
  dest="$GITHUB_WORKSPACE/$INPUT_PATH"
fi
mkdir -p "$dest"
cd "$dest"

# A new job's workspace is empty; a reused one is emptied (clean: true), as the real
# action's `git clean -ffdx` + `git reset --hard` would leave no local change behind.
if [ -n "$(ls -A)" ]; then
  [ "$INPUT_CLEAN" = "true" ] || fail "the workspace is not empty and clean is false"
  find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +
fi

git init -q
git remote add origin "$url"

# What to fetch: the event's ref and commit, or the ref input.
ref="$INPUT_REF"
sha=""
if [ -z "$ref" ]; then
  ref="$GITHUB_REF"
  sha="$GITHUB_SHA"
elif [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
  sha="$ref"
  ref=""
elif [[ "$ref" != refs/* ]]; then
  ref="refs/heads/$ref"
fi
case "$ref" in
  refs/heads/*) tracking="refs/remotes/origin/${ref#refs/heads/}" ;;
  refs/pull/*) tracking="refs/remotes/pull/${ref#refs/pull/}" ;;
  refs/tags/*) tracking="$ref" ;;
  "") tracking="" ;;
  *) fail "cannot check out ref '$ref'" ;;
esac

tags=(--no-tags)
[ "$INPUT_FETCH_TAGS" = "true" ] && tags=(--tags)
if [ "$INPUT_FETCH_DEPTH" = 0 ]; then
  echo "Fetching all branches and tags (fetch-depth: 0)"
  git fetch -q --prune origin '+refs/heads/*:refs/remotes/origin/*' '+refs/tags/*:refs/tags/*'
  depth=()
else
  depth=(--depth="$INPUT_FETCH_DEPTH")
fi
want="${sha:-$ref}"
if [ -n "$tracking" ]; then
  spec="+$want:$tracking"
else
  spec="$want"
fi
# With fetch-depth 0 the commit may already be here (a branch head); a PR merge commit
# is on no branch and is fetched by itself, as the real action does.
if [ "$INPUT_FETCH_DEPTH" != 0 ] || ! git cat-file -e "${want}^{commit}" 2>/dev/null; then
  echo "Fetching $want (depth ${INPUT_FETCH_DEPTH/#0/all})"
  git fetch -q "${tags[@]}" "${depth[@]}" origin "$spec"
fi

if [[ "$ref" == refs/heads/* ]]; then
  git checkout -q --force -B "${ref#refs/heads/}" "${sha:-$tracking}"
else
  git checkout -q --force --detach "${sha:-${tracking:-$want}}"
fi

if [ "$INPUT_PERSIST_CREDENTIALS" = "true" ]; then
  basic="$(printf 'x-access-token:%s' "$INPUT_TOKEN" | base64 -w0)"
  echo "::add-mask::$basic"
  git config --local "http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader" \
    "AUTHORIZATION: basic $basic"
fi

commit="$(git rev-parse HEAD)"
echo "Checked out ${ref:-$commit} at $commit"
{
  echo "ref=$ref"
  echo "commit=$commit"
} >> "$GITHUB_OUTPUT"
