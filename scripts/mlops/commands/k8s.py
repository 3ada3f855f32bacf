"""`mlops k8s`: the Kubernetes manifests, rendered, checked, diffed and promoted through Git.

    mlops k8s render --env ENV [--cluster]        kubectl kustomize k8s/overlays/ENV
    mlops k8s check [--env ENV ...] [--json]      render every overlay and Flux dir; schemas
                                                  (built-in, Gateway API, Flux) and policies
    mlops k8s diff --env ENV --base REF --out DIR the rendered diff for the PR comment
    mlops k8s promote --env ENV --weight W        canary weight W (100: finish) ...
    mlops k8s rollback --env ENV                  ... or back to stable, as a pull request

promote/rollback read the release from the overlay's render, decide in core.k8s, edit
release.yaml / traffic.yaml keeping their comments and layout (ruamel.yaml round trip),
render and check the edited overlay in a scratch copy, and only then propose it: with
GITHUB_TOKEN, a branch and pull request through the GitHub API (`open_change_pr`);
without it (or with --print), the edit in the working tree and the git commands to
propose it. Nothing is changed when any step fails. See docs/kubernetes.md.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters import crdschema, kubeschema, rego
from mlops.adapters.kubectl import Kubectl
from mlops.core import k8s
from mlops.core import policy as policy_core
from mlops.core.config import ProjectConfig
from mlops.errors import MlopsError
from mlops.settings import Settings

DIFF_FILE = "k8s.json"
DIFF_VERSION = 1
POLICY_DIR = Path("policies/k8s")


def register(sub: Any) -> None:
    parser = sub.add_parser("k8s", help="Kubernetes manifests: render, check, diff, promote, "
                                        "rollback")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    render = verbs.add_parser("render", help="print `kubectl kustomize` of an env's overlay")
    render.add_argument("--env", required=True, type=argtypes.env_name)
    render.add_argument("--cluster", action="store_true",
                        help="print the env's Flux objects (k8s/clusters/ENV) instead")
    render.set_defaults(func=run_render)

    check = verbs.add_parser(
        "check", help="render and validate every overlay and Flux dir (exit 1 on findings)",
        description="Schemas of built-in kinds (kubernetes-validate), Gateway API and Flux "
                    "objects (npm validators), the Rego policies of policies/k8s/, and the "
                    "Flux objects' repository and path.")
    check.add_argument("--env", action="append", type=argtypes.env_name,
                       help="only this env (repeatable)")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.set_defaults(func=run_check)

    diff = verbs.add_parser(
        "diff", help="write the rendered-manifest diff of an env for the PR comment",
        description=f"Render the env at --base and at --head (default: the working tree) and "
                    f"write DIR/{DIFF_FILE}, which `mlops comment` shows as the env's "
                    "Kubernetes section. Secret values are redacted.")
    diff.add_argument("--env", required=True, type=argtypes.env_name)
    diff.add_argument("--base", required=True, help="git ref of the base (e.g. origin/main)")
    diff.add_argument("--head", default=None, help="git ref of the head (default: working tree)")
    diff.add_argument("--out", required=True, type=argtypes.output_dir,
                      help="directory to write into")
    diff.set_defaults(func=run_diff)

    for verb, text in (("promote", "shift traffic to the canary (100 finishes the promotion)"),
                       ("rollback", "send all traffic back to stable, canary back to stable's")):
        p = verbs.add_parser(verb, help=f"{text}, as a pull request")
        p.add_argument("--env", required=True, type=argtypes.env_name)
        if verb == "promote":
            p.add_argument("--weight", required=True, type=int,
                           help="the canary's percentage of requests, 0-100; 100 makes the "
                                "canary's version the stable one")
        p.add_argument("--print", dest="print_only", action="store_true",
                       help="edit the working tree and print the git commands, even with "
                            "GITHUB_TOKEN set")
        p.add_argument("--dry-run", action="store_true",
                       help="show the edit and its rendered diff; change nothing")
        p.add_argument("--repo", default=None,
                       help="OWNER/NAME for the pull request (default: github_repo in mlops.yaml)")
        p.add_argument("--base", default=None,
                       help="branch the pull request targets (default: the repository's "
                            "default branch)")
        p.add_argument("--branch", default=None, help="branch name for the change")
        p.set_defaults(func=run_change, action=verb)


# ---------------------------------------------------------------- rendering


def _k8s_dirs(root: Path, kind: str) -> list[str]:
    base = root / "k8s" / kind
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def _env_dir(root: Path, kind: str, env: str) -> Path:
    path = root / "k8s" / kind / env
    if not (path / "kustomization.yaml").is_file():
        raise MlopsError(f"no kustomization at k8s/{kind}/{env}/",
                         f"every env of mlops.yaml has k8s/overlays/{env}/ and "
                         f"k8s/clusters/{env}/",
                         f"copy another env's: cp -r k8s/{kind}/dev k8s/{kind}/{env}, then "
                         "edit its names, images and models")
    return path


def render(kubectl: Kubectl, root: Path, kind: str, env: str) -> list[dict[str, Any]]:
    directory = _env_dir(root, kind, env)
    text = kubectl.kustomize(directory)
    try:
        return k8s.parse_manifests(text, f"k8s/{kind}/{env}")
    except ValueError as err:
        raise MlopsError("kustomize produced something that is not Kubernetes objects",
                         str(err), "check the overlay's resources") from err


def run_render(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    config = context.load_config(settings)
    config.env(args.env)
    kind = k8s.CLUSTERS if args.cluster else k8s.OVERLAYS
    sys.stdout.write(Kubectl(env).kustomize(_env_dir(settings.root, kind, args.env)))
    return 0


# ---------------------------------------------------------------- check


@dataclass
class CheckReport:
    findings: list[k8s.Finding] = field(default_factory=list)
    objects: dict[str, int] = field(default_factory=dict)  # render -> number of objects
    tools: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.findings

    def text(self) -> str:
        lines = []
        for render_name, count in self.objects.items():
            mine = [f for f in self.findings if f.overlay == render_name]
            status = "FAIL" if mine else "PASS"
            lines.append(f"{status} {render_name}: {count} objects"
                         + (f", {len(mine)} finding(s)" if mine else ""))
            lines += [f"  - {f.render()}" for f in mine]
        others = [f for f in self.findings if f.overlay not in self.objects]
        lines += [f"FAIL {f.render()}" for f in others]
        total = sum(self.objects.values())
        if self.passed:
            lines.append(f"k8s check: passed ({total} objects in {len(self.objects)} renders)")
        else:
            lines.append(f"k8s check: FAILED: {len(self.findings)} finding(s); fix the "
                         "manifests (k8s/) or the policies (policies/k8s/)")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "objects": self.objects, "tools": self.tools,
                "findings": [f.__dict__ for f in self.findings]}


def kubernetes_version(root: Path) -> str:
    cluster = rego.PolicySet.from_dir(root / POLICY_DIR).data.get("cluster") or {}
    version = str(cluster.get("kubernetes_version", ""))
    if not version:
        raise MlopsError("no cluster.kubernetes_version in policies/k8s/data/",
                         "built-in kinds are validated against that version's schemas",
                         'add cluster: {kubernetes_version: "1.35"} to '
                         "policies/k8s/data/cluster.yaml")
    return version


def check_renders(root: Path, renders: Mapping[str, list[dict[str, Any]]],
                  config: ProjectConfig, env: Mapping[str, str]) -> CheckReport:
    """Validate rendered objects. `renders`: {"dev": overlay objects, "clusters/dev":
    Flux objects, ...}; `root`: the repository (policies/k8s/, node_modules/)."""
    report = CheckReport(objects={name: len(objs) for name, objs in renders.items()})
    version = kubernetes_version(root)
    policies = rego.PolicySet.from_dir(root / POLICY_DIR)
    crd_objects: list[tuple[str, dict[str, Any]]] = []
    for name, objects in renders.items():
        env_name = name.split("/", 1)[1] if name.startswith(f"{k8s.CLUSTERS}/") else name
        for obj in objects:
            if k8s.is_crd_kind(obj):
                crd_objects.append((name, obj))
                continue
            result = kubeschema.validate(obj, version)
            kind, obj_name = obj["kind"], obj["metadata"]["name"]
            if result.status == "invalid":
                report.findings.append(k8s.Finding(name, kind, obj_name, result.field,
                                                   result.message, "schema"))
            elif result.status == "unknown":
                report.findings.append(k8s.Finding(
                    name, kind, obj_name, "apiVersion",
                    f"no Kubernetes {version} schema for {obj['apiVersion']} {kind} (a "
                    "removed API version, or a custom resource without a validator)",
                    "schema"))
        data = k8s.policy_data(policies.data, env_name)
        answers = rego.evaluate_each(policies, data, objects, policy_core.QUERY)
        for answer in answers:
            try:
                violations = policy_core.parse_violations(answer)
            except ValueError as err:
                raise MlopsError("the Kubernetes policies returned something unexpected",
                                 str(err), "fix policies/k8s/ (deny is a set)") from err
            report.findings += k8s.policy_findings(name, violations)
        if name.startswith(f"{k8s.CLUSTERS}/"):
            report.findings += k8s.flux_findings(env_name, objects, config.github_repo)
    results, packages = crdschema.validate(root, [o for _, o in crd_objects], env)
    for (name, obj), crd in zip(crd_objects, results, strict=True):
        kind, obj_name = obj["kind"], obj["metadata"]["name"]
        if crd.status == "unknown":
            report.findings.append(k8s.Finding(name, kind, obj_name, "apiVersion",
                                               f"no schema for {obj['apiVersion']} {kind} in "
                                               "the Gateway API / Flux validators", "schema"))
        for field_name, message in crd.errors:
            report.findings.append(k8s.Finding(name, kind, obj_name, field_name, message,
                                               "schema"))
    report.tools = {"kubernetes schemas": version, **packages}
    report.findings.sort()
    return report


def render_all(root: Path, envs: Sequence[str],
               kubectl: Kubectl) -> dict[str, list[dict[str, Any]]]:
    renders: dict[str, list[dict[str, Any]]] = {}
    for env_name in envs:
        renders[env_name] = render(kubectl, root, k8s.OVERLAYS, env_name)
        renders[f"{k8s.CLUSTERS}/{env_name}"] = render(kubectl, root, k8s.CLUSTERS, env_name)
    return renders


def check_tree(settings: Settings, config: ProjectConfig, env: Mapping[str, str],
               envs: Sequence[str] | None = None) -> CheckReport:
    """Render and check the repository's k8s/ for `envs` (default: every env)."""
    root = settings.root
    wanted = list(envs or config.envs)
    for name in wanted:
        config.env(name)
    layout = k8s.layout_problems(config.envs, _k8s_dirs(root, k8s.OVERLAYS),
                                 _k8s_dirs(root, k8s.CLUSTERS)) if not envs else []
    if layout:
        report = CheckReport()
        report.findings = [k8s.Finding("k8s", "", "", "", p, "layout") for p in layout]
        return report
    renders = render_all(root, wanted, Kubectl(env))
    return check_renders(root, renders, config, env)


def run_check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    config = context.load_config(settings)
    envs = args.env or list(config.envs)
    ui.step(f"k8s check: rendering {', '.join(envs)} (overlays and Flux dirs)")
    report = check_tree(settings, config, env, args.env)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        if report.tools:
            ui.info("validators: " + ", ".join(f"{k} {v}" for k, v in report.tools.items()))
        print(report.text())
    return 0 if report.passed else 1


def demo_check(settings: Settings, env: Mapping[str, str]) -> str:
    """The demo's story: `mlops k8s check` passes for every overlay. Returns a short
    excerpt; MlopsError when anything fails."""
    config = context.load_config(settings)
    report = check_tree(settings, config, env)
    if not report.passed:
        raise MlopsError("the Kubernetes manifests do not pass `mlops k8s check`",
                         report.text(), "fix k8s/ or policies/k8s/ as the findings say")
    overlays = [n for n in report.objects if not n.startswith(f"{k8s.CLUSTERS}/")]
    return (f"passed: {', '.join(overlays)} ({sum(report.objects.values())} objects: "
            "schemas, Gateway API, Flux, policies)")


# ---------------------------------------------------------------- diff


@contextmanager
def tree_at(settings: Settings, env: Mapping[str, str], ref: str | None) -> Iterator[Path]:
    """A root holding k8s/ as it is at `ref` (None: the working tree itself)."""
    if ref is None:
        yield settings.root
        return
    from mlops.adapters.git import Git

    git = Git(settings.root, env=env)
    paths = [p for p in git.list_files(ref) if p.startswith("k8s/")]
    files = git.read_files(ref, paths)
    with tempfile.TemporaryDirectory(prefix="mlops-k8s-") as tmp:
        for path, text in files.items():
            target = Path(tmp) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        yield Path(tmp)


def _render_or_empty(kubectl: Kubectl, root: Path, env_name: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for kind in (k8s.OVERLAYS, k8s.CLUSTERS):
        if (root / "k8s" / kind / env_name / "kustomization.yaml").is_file():
            objects += render(kubectl, root, kind, env_name)
    return objects


def run_diff(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    config = context.load_config(settings)
    config.env(args.env)
    kubectl = Kubectl(env)
    args.out.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"v": DIFF_VERSION, "env": args.env, "base": args.base,
                                "head": args.head or "working tree"}
    try:
        with tree_at(settings, env, args.base) as base_root:
            base = _render_or_empty(kubectl, base_root, args.env)
        with tree_at(settings, env, args.head) as head_root:
            head = _render_or_empty(kubectl, head_root, args.env)
    except MlopsError as err:
        document.update(status="failed", error=err.render(), diff="", added=[], removed=[],
                        changed=[])
        (args.out / DIFF_FILE).write_text(json.dumps(document, indent=2) + "\n")
        raise
    result = k8s.diff_renders(args.env, base, head, base_label=args.base,
                              head_label=args.head or "head")
    document.update(status="ok", **result.as_dict())
    (args.out / DIFF_FILE).write_text(json.dumps(document, indent=2) + "\n")
    counts = (f"{len(result.added)} added, {len(result.changed)} changed, "
              f"{len(result.removed)} removed")
    ui.step(f"k8s diff {args.env}: {counts} -> {args.out / DIFF_FILE}")
    print(result.diff or f"# {args.env}: the rendered manifests are unchanged")
    return 0


# ---------------------------------------------------------------- promote / rollback


def _unified(path: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True),
                                        after.splitlines(keepends=True),
                                        fromfile=f"a/{path}", tofile=f"b/{path}"))


def plan_change(settings: Settings, config: ProjectConfig, env: Mapping[str, str],
                env_name: str, action: str,
                weight: int | None) -> tuple[k8s.Change, dict[str, str], str]:
    """(the change, {repo path: new text}, rendered diff) after rendering and checking the
    edited overlay in a scratch copy of k8s/. MlopsError on any refusal or failure."""
    if weight is not None:
        try:
            k8s.check_weight(weight)
        except k8s.Refused as err:
            raise MlopsError(f"refusing to promote {env_name}", str(err),
                             "pass --weight between 0 and 100") from err
    kubectl = Kubectl(env)
    overlay = _env_dir(settings.root, k8s.OVERLAYS, env_name)
    current = render(kubectl, settings.root, k8s.OVERLAYS, env_name)
    try:
        state = k8s.release_state(current)
        change = (k8s.rollback(state) if action == "rollback"
                  else k8s.promote(state, -1 if weight is None else weight))
    except k8s.Refused as err:
        fix = ("start a canary first: put the new image or model in model-server-canary in "
               f"k8s/overlays/{env_name}/release.yaml (a pull request)"
               if action == "promote" else "nothing to do")
        raise MlopsError(f"refusing to {action} {env_name}", str(err), fix) from err
    except ValueError as err:
        raise MlopsError(f"refusing to {action} {env_name}: the overlay has no canary",
                         str(err), "see k8s/base/model-server (stable and canary tracks "
                         "behind one HTTPRoute)") from err
    if change.noop:
        return change, {}, ""
    release_path, traffic_path = overlay / k8s.RELEASE_FILE, overlay / k8s.TRAFFIC_FILE
    try:
        edits = k8s.apply_change(change, release_path.read_text(), traffic_path.read_text())
    except (OSError, ValueError) as err:
        raise MlopsError(f"cannot edit k8s/overlays/{env_name}", str(err),
                         "keep release.yaml and traffic.yaml in the documented shape "
                         "(docs/kubernetes.md)") from err
    files = {f"k8s/overlays/{env_name}/{name}": text for name, text in edits.items()}
    with tempfile.TemporaryDirectory(prefix="mlops-k8s-edit-") as tmp:
        scratch = Path(tmp)
        shutil.copytree(settings.root / "k8s", scratch / "k8s")
        for path, text in files.items():
            (scratch / path).write_text(text)
        edited = render(kubectl, scratch, k8s.OVERLAYS, env_name)
        problems = k8s.verify_render(change, k8s.release_state(edited))
        if problems:
            raise MlopsError(f"the edited {env_name} overlay does not render what the "
                             f"{action} asks for", "; ".join(problems),
                             "a patch elsewhere in the overlay overrides release.yaml or "
                             "traffic.yaml; remove it")
        report = check_renders(settings.root, {env_name: edited}, config, env)
        if not report.passed:
            raise MlopsError(f"refusing to {action} {env_name}: the edited overlay no longer "
                             "validates", report.text(), "fix the overlay first; nothing "
                             "was changed")
    rendered = k8s.diff_renders(env_name, current, edited, base_label="now",
                                head_label=action).diff
    return change, files, rendered


def run_change(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    config = context.load_config(settings)
    config.env(args.env)
    weight = getattr(args, "weight", None)
    change, files, rendered = plan_change(settings, config, env, args.env, args.action, weight)
    if change.noop:
        ui.step(f"k8s {args.action} {args.env}: nothing to change (already "
                f"{change.before.canary_weight} % on the canary)")
        return 0
    for line in change.summary:
        ui.info(line)
    title = k8s.change_title(change, args.env, weight)
    edits = "".join(_unified(p, (settings.root / p).read_text(), t) for p, t in files.items())
    if args.dry_run:
        ui.step(f"k8s {args.action} {args.env}: dry run; the edit and the rendered diff")
        print(edits + "\n" + rendered)
        return 0
    branch = args.branch or k8s.branch_name(change, args.env)
    body = "\n".join([f"`mlops k8s {args.action} --env {args.env}"
                      + (f" --weight {weight}`" if weight is not None else "`"), "",
                      *[f"- {line}" for line in change.summary], "",
                      "Rendered and checked (`mlops k8s check`) before this pull request was "
                      "opened. Merging it lets Flux apply the overlay.", "",
                      "<details><summary>Rendered manifest diff</summary>", "", "```diff",
                      rendered[:50000], "```", "", "</details>"])
    if env.get("GITHUB_TOKEN") and not args.print_only:
        return _open_pull_request(settings, config, env, args, files, branch, title, body)
    for path, text in files.items():
        (settings.root / path).write_text(text)
    ui.step(f"k8s {args.action} {args.env}: edited {', '.join(files)}; propose it with:")
    paths = " ".join(files)
    print("\n".join([f"git switch -c {branch}", f"git add {paths}",
                     f'git commit -m "{title}"', f"git push -u origin {branch}",
                     f'gh pr create --fill --title "{title}"']))
    return 0


def _open_pull_request(settings: Settings, config: ProjectConfig, env: Mapping[str, str],
                       args: argparse.Namespace, files: Mapping[str, str], branch: str,
                       title: str, body: str) -> int:
    import requests

    from mlops.adapters import github

    repo = args.repo or config.github_repo
    with requests.Session() as session:
        gh = github.from_env(env, session)
        base = args.base or gh.default_branch(repo)
        for path in files:  # the edit was made on the local files: they must be base's
            remote = gh.get_file(repo, path, base)
            local = (settings.root / path).read_text()
            if remote is None or remote.text != local:
                raise MlopsError(f"{path} differs between this checkout and {repo}@{base}",
                                 "the pull request would overwrite changes made on the base "
                                 "branch since", "update the checkout (git pull) and re-run")
        result = gh.open_change_pr(repo, base, branch, dict(files), title, body)
    verb = "opened" if result.created else "updated"
    ui.step(f"k8s {args.action} {args.env}: pull request {verb}: {result.pull.html_url}")
    print(result.pull.html_url)
    return 0
