#!/usr/bin/env bash
# hashicorp/setup-terraform on the host: the exact requested version from the runner's
# tool cache ($RUNNER_TOOL_CACHE/terraform/<version>/x64/terraform; the real action
# downloads it from releases.hashicorp.com). The wrapper (which rewrites stdout and exit
# codes) is not implemented: a workflow asking for it fails here rather than run unlike CI.
set -euo pipefail

fail() { echo "::error::setup-terraform stand-in: $*"; exit 1; }

want="$INPUT_TERRAFORM_VERSION"
[[ "$want" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "terraform_version '$want' must be an exact X.Y.Z (pin it: 'latest' changes under you)"
[ "$INPUT_TERRAFORM_WRAPPER" = "false" ] ||
  fail "terraform_wrapper: true is not implemented by the stand-in; set it to false"
dir="${RUNNER_TOOL_CACHE:?RUNNER_TOOL_CACHE is not set}/terraform/$want/x64"
[ -x "$dir/terraform" ] || fail "Terraform $want is not in the tool cache ($dir)"
found="$("$dir/terraform" version -json | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')"
[ "$found" = "$want" ] || fail "$dir/terraform is version '$found', not $want"
echo "Terraform $want from the tool cache"
echo "$dir" >> "$GITHUB_PATH"
