"""`mlops oidc assume`: assume an AWS role with the job's GitHub OIDC token.

  mlops oidc assume --role-arn ARN [--audience sts.amazonaws.com] [--duration 3600]
                    [--session-name NAME] [--region REGION] [--allowed-account-ids IDS]
  mlops oidc assume --env ENV --kind plan|apply|drift|reaper [...]

With --env and --kind the role ARN is the repository variable <KIND>_ROLE_ARN_<ENV> (env
name upper-cased, `-` as `_`: APPLY_ROLE_ARN_PROD_EU) read from GITHUB_VARS, the `vars`
context as JSON (`GITHUB_VARS: ${{ toJSON(vars) }}` in the step's env); the region and the
allowed account default to the env's in mlops.yaml. A missing variable fails naming it and
the bootstrap output that holds its value.

In a GitHub Actions job with `permissions: id-token: write`: requests the OIDC token
(ACTIONS_ID_TOKEN_REQUEST_URL + `&audience=`, bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN), calls
STS AssumeRoleWithWebIdentity (at AWS_ENDPOINT_URL when set), prints `::add-mask::` for
the access key id, the secret key and the session token before anything else, and
appends AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION to
$GITHUB_ENV for the job's later steps, with MLOPS_OIDC_* so in-process commands can renew
the session when it nears expiry (adapters/aws.py). It prints the assumed role ARN and the
expiry, never a credential.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from mlops import argtypes, ui
from mlops.adapters import actions
from mlops.adapters.aws import OIDC_EXPIRATION_ENV, OIDC_ROLE_ENV
from mlops.adapters.oidc import WebIdentity
from mlops.context import load_project
from mlops.core import envs, oidc
from mlops.core.actions import mask_command
from mlops.core.envs import EnvSpec
from mlops.errors import MlopsError
from mlops.settings import Settings


def register(sub: Any) -> None:
    parser = sub.add_parser("oidc", help="GitHub OIDC: assume an AWS role from a workflow job",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    actions_sub = parser.add_subparsers(dest="oidc_command", metavar="ACTION", required=True)
    assume = actions_sub.add_parser("assume", help="assume a role, export credentials to "
                                                   "$GITHUB_ENV", description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    which = assume.add_mutually_exclusive_group(required=True)
    which.add_argument("--role-arn", help="the IAM role to assume")
    which.add_argument("--env", type=argtypes.env_name,
                       help="the env whose role to assume (with --kind; the ARN comes from "
                       "the repository variable <KIND>_ROLE_ARN_<ENV> in GITHUB_VARS)")
    assume.add_argument("--kind", choices=envs.ROLE_KINDS,
                        help="with --env: which of the env's roles (bootstrap/)")
    assume.add_argument("--audience", default=oidc.DEFAULT_AUDIENCE,
                        help=f"the token's audience (default {oidc.DEFAULT_AUDIENCE})")
    assume.add_argument("--duration", type=int, default=oidc.DEFAULT_DURATION,
                        help="session length in seconds, 900-43200 (default 3600)")
    assume.add_argument("--session-name",
                        help="role session name (default: repository, run id and attempt)")
    assume.add_argument("--region", help="AWS region (default: the env's with --env, else "
                        "AWS_REGION, else us-east-1)")
    assume.add_argument("--allowed-account-ids", default="",
                        help="comma-separated account ids the role must belong to")
    assume.set_defaults(func=cmd_assume)


def role_of_env(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, EnvSpec]:
    """The ARN of the env's role of `--kind`, from the repository variables (GITHUB_VARS)."""
    if not args.kind:
        raise MlopsError("--env needs --kind", "an env has plan, apply, drift and reaper roles",
                         f"pass --kind {'|'.join(envs.ROLE_KINDS)}")
    spec = load_project(Settings.from_env(env)).env(args.env)
    name = envs.role_variable(args.kind, spec.name)
    fix = (f"set the repository variable {name} (Settings > Secrets and variables > Actions > "
           f"Variables) to bootstrap's output {args.kind}_role_arns[\"{spec.name}\"], and pass "
           "GITHUB_VARS: ${{ toJSON(vars) }} to this step (docs/workflows.md)")
    raw = env.get("GITHUB_VARS", "")
    try:
        variables = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as err:
        raise MlopsError("GITHUB_VARS is not JSON", str(err), fix) from err
    if not isinstance(variables, dict):
        raise MlopsError("GITHUB_VARS is not a JSON object", "it must be the vars context", fix)
    arn = oidc.role_from_variables(variables, name)
    if not arn:
        raise MlopsError(f"the repository variable {name} is not set",
                         f"it holds the ARN of {spec.name}'s {args.kind} role", fix)
    return arn, spec


def cmd_assume(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    spec: EnvSpec | None = None
    role_arn = args.role_arn
    if args.env:
        role_arn, spec = role_of_env(args, env)
    elif args.kind:
        raise MlopsError("--kind goes with --env", "--role-arn names the role itself",
                         "drop --kind, or pass --env instead of --role-arn")
    try:
        role = oidc.parse_role_arn(role_arn)
        allowed = oidc.parse_accounts(args.allowed_account_ids or
                                      (spec.account or "" if spec else ""))
    except ValueError as err:
        raise MlopsError(f"bad argument: {err}", "", "pass --role-arn "
                         "arn:aws:iam::123456789012:role/NAME and 12-digit account ids") from err
    if not oidc.allowed(role.account, allowed):
        raise MlopsError(
            f"refusing to assume {role.arn}: account {role.account} is not in "
            f"--allowed-account-ids ({', '.join(allowed)})",
            "the role belongs to another AWS account than this job may touch",
            "check the role ARN (repository variable), or the allowed account ids")
    if not oidc.MIN_DURATION <= args.duration <= oidc.MAX_DURATION:
        raise MlopsError(f"--duration {args.duration} is out of range",
                         "STS sessions last 900 to 43200 seconds (and at most the role's "
                         "maximum session duration)", "pass e.g. --duration 3600")
    name = args.session_name or oidc.session_name(env.get("GITHUB_REPOSITORY", ""),
                                                  env.get("GITHUB_RUN_ID", ""),
                                                  env.get("GITHUB_RUN_ATTEMPT", ""))
    if not oidc.valid_session_name(name):
        raise MlopsError(f"--session-name {name!r} is not a valid role session name",
                         "STS takes 2-64 characters of letters, digits and +=,.@_-",
                         f"e.g. --session-name {oidc.sanitise(name)[:64]}")
    if not env.get("GITHUB_ENV"):
        raise MlopsError("GITHUB_ENV is not set: nowhere to put the credentials",
                         "`mlops oidc assume` hands credentials to the job's later steps "
                         "through $GITHUB_ENV and never prints them",
                         "run it as a step of a GitHub Actions job")
    region = (args.region or (spec.region if spec else "") or env.get("AWS_REGION")
              or env.get("AWS_DEFAULT_REGION") or "us-east-1")
    identity = WebIdentity(env=env, role_arn=role.arn, audience=args.audience,
                           duration=args.duration, session_name=name, region=region)
    assumed = identity.assume()
    # Masks first: from here on the runner hides these values in every log line.
    for secret in (assumed.access_key_id, assumed.secret_access_key, assumed.session_token):
        print(mask_command(secret), flush=True)
    if assumed.assumed_role_arn.split(":")[4] != role.account:
        raise MlopsError(f"the assumed session is in account "
                         f"{assumed.assumed_role_arn.split(':')[4]}, not {role.account}",
                         "STS answered for another account", "check AWS_ENDPOINT_URL")
    expiry = assumed.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    values = oidc.credentials_env(assumed.access_key_id, assumed.secret_access_key,
                                  assumed.session_token, region)
    values.update({OIDC_ROLE_ENV: role.arn, "MLOPS_OIDC_AUDIENCE": args.audience,
                   "MLOPS_OIDC_DURATION": str(args.duration), "MLOPS_OIDC_SESSION_NAME": name,
                   OIDC_EXPIRATION_ENV: assumed.expiration.isoformat()})
    actions.export(env, values)
    print(f"assumed {assumed.assumed_role_arn}", flush=True)
    print(f"expires {expiry}", flush=True)
    ui.info(f"credentials for {role.arn} exported to $GITHUB_ENV for the job's later steps")
    sys.stdout.flush()
    return 0
