"""Change detection: which env roots a change affects. Pure: no git, no files, no environment.

The shell (`mlops changed`) hands in the changed paths (from `adapters.git`), the text of
the `.tf` files (to build the local module graph) and the env names from mlops.yaml; this
module decides and explains. Paths are repository-relative POSIX paths.

A changed path is classified by the first matching rule in PATH_RULES:

- docs (`*.md`, `docs/`) and files no plan reads (`bootstrap/`, `tests/`, ...)
  affect nothing;
- `k8s/` and `policies/k8s/` are the Kubernetes manifests, reviewed with their own diff
  (`mlops k8s diff`), never a Terraform plan: `k8s/overlays/<env>/` and
  `k8s/clusters/<env>/` affect that env's manifests, the rest of `k8s/` (the base) and the
  Kubernetes policies every env's (`Decision.k8s`);
- `envs/<env>/...` affects that env only;
- `modules/...` affects every env whose root calls that module, directly or through
  other local modules (env -> modules/a -> ../b: a change to b affects the env);
- global inputs of every plan (`mlops.yaml`, `policies/`, the workflows, the `mlops`
  package and its pins) affect every env;
- anything else affects every env: an unrecognised path is planned everywhere, to be
  safe, and the explanation says which rule to add to narrow it.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from mlops.core.hcl import Token, tokens

# ---------------------------------------------------------------------------------------
# Module sources: a small parser of `module "x" { source = "..." }` blocks.
# ---------------------------------------------------------------------------------------


def module_sources(tf_text: str) -> list[str]:
    """The `source` of every top-level `module "name" { ... }` block, in file order.

    Only literal strings are returned (Terraform requires `source` to be a literal).
    """
    sources: list[str] = []
    depth = 0
    in_module_depth: int | None = None  # depth of the open module block's body
    window: list[Token] = []
    for tok in tokens(tf_text):
        window = [*window[-2:], tok]
        if tok.kind == "punct" and tok.value in "{[(":
            if (
                depth == 0
                and tok.value == "{"
                and len(window) == 3
                and window[0] == Token("ident", "module")
                and window[1].kind == "string"
            ):
                in_module_depth = 1
            depth += 1
            continue
        if tok.kind == "punct" and tok.value in "}])":
            depth = max(0, depth - 1)
            if in_module_depth is not None and depth < in_module_depth:
                in_module_depth = None
            continue
        if (
            in_module_depth is not None
            and depth == in_module_depth
            and tok.kind == "string"
            and len(window) == 3
            and window[0] == Token("ident", "source")
            and window[1] == Token("punct", "=")
            and not tok.interpolated
        ):
            sources.append(tok.value)
    return sources


def is_local_source(source: str) -> bool:
    return source.startswith(("./", "../"))


ModuleGraph = Mapping[str, frozenset[str]]
"""Directory -> the local module directories its `.tf` files call (repo-relative)."""


def build_module_graph(tf_files: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """Build the local module graph from `{path/to/file.tf: text}`.

    A source like `../../modules/ml_bucket` in `envs/dev/main.tf` becomes the edge
    `envs/dev -> modules/ml_bucket`. Remote sources (registry, git) are not edges.
    """
    edges: dict[str, set[str]] = {}
    for path, text in tf_files.items():
        if not path.endswith(".tf"):
            continue
        directory = posixpath.dirname(path)
        targets = edges.setdefault(directory, set())
        for source in module_sources(text):
            if is_local_source(source):
                targets.add(posixpath.normpath(posixpath.join(directory, source)))
    return {d: frozenset(t) for d, t in edges.items()}


def merge_graphs(*graphs: ModuleGraph) -> dict[str, frozenset[str]]:
    """Union of edges: use the graphs of base and head so that removed calls still count."""
    merged: dict[str, set[str]] = {}
    for graph in graphs:
        for directory, targets in graph.items():
            merged.setdefault(directory, set()).update(targets)
    return {d: frozenset(t) for d, t in merged.items()}


def module_chains(root: str, graph: ModuleGraph) -> dict[str, tuple[str, ...]]:
    """Every module directory reachable from `root`, with one shortest call chain to it."""
    chains: dict[str, tuple[str, ...]] = {}
    queue: deque[tuple[str, tuple[str, ...]]] = deque([(root, (root,))])
    seen = {root}
    while queue:
        directory, chain = queue.popleft()
        for target in sorted(graph.get(directory, ())):
            if target in seen:
                continue
            seen.add(target)
            chains[target] = (*chain, target)
            queue.append((target, chains[target]))
    return chains


# ---------------------------------------------------------------------------------------
# The decision.
# ---------------------------------------------------------------------------------------


class Kind(Enum):
    NONE = "none"  # affects no env
    ENV = "env"  # envs/<env>/...: that env
    MODULE = "module"  # modules/...: the envs that use the module
    ALL = "all"  # every env
    K8S_ENV = "k8s-env"  # k8s/overlays/<env>/..., k8s/clusters/<env>/...: that env's manifests
    K8S_ALL = "k8s-all"  # the Kubernetes base and policies: every env's manifests


@dataclass(frozen=True)
class PathRule:
    patterns: tuple[str, ...]  # fnmatch patterns on the repo-relative path
    kind: Kind
    reason: str


# First match wins. `*` in fnmatch also matches `/`, so `docs/*` covers the whole tree.
PATH_RULES: tuple[PathRule, ...] = (
    PathRule(("*.md", "docs/*"), Kind.NONE, "documentation only"),
    PathRule(
        ("LICENSE*", ".gitignore", ".gitattributes", ".editorconfig", ".checkov.yaml"),
        Kind.NONE,
        "repository housekeeping; no plan reads it",
    ),
    PathRule(
        ("bootstrap/*",),
        Kind.NONE,
        "bootstrap/ is applied by hand once per account, never by the env pipelines",
    ),
    PathRule(("k8s/overlays/*", "k8s/clusters/*"), Kind.K8S_ENV, "Kubernetes manifests"),
    PathRule(
        ("k8s/*", "policies/k8s/*"),
        Kind.K8S_ALL,
        "the Kubernetes base or policies, which every env's manifests use (no Terraform "
        "plan reads them)",
    ),
    PathRule(("tests/*", "bench/*"), Kind.NONE, "tests and benchmarks; no plan reads them"),
    PathRule(
        ("package.json", "package-lock.json", "scripts/tools/*", ".ci/*"),
        Kind.NONE,
        "lint tooling and the CI entry point; no plan reads them",
    ),
    PathRule(("envs/*",), Kind.ENV, "env root"),
    PathRule(("modules/*",), Kind.MODULE, "module"),
    PathRule(
        ("mlops.yaml",),
        Kind.ALL,
        "mlops.yaml holds settings of every plan (project, region, state backend, env list)",
    ),
    PathRule(
        ("policies/*",),
        Kind.ALL,
        "the policy gate runs on every env's plan; re-plan all so the PR shows which envs "
        "the changed rules pass or block before they are merged",
    ),
    PathRule(
        (".github/workflows/*", ".github/actions/*"),
        Kind.ALL,
        "the plan/apply pipeline itself changed; exercise it on every env",
    ),
    PathRule(
        ("scripts/mlops/*", "pyproject.toml", "Makefile"),
        Kind.ALL,
        "the mlops CLI or its pinned tools produce and gate every plan",
    ),
)

FALLBACK_REASON = (
    "not covered by any rule in mlops.core.changes.PATH_RULES; planning every env to be "
    "safe (add a rule there to narrow it)"
)


@dataclass(frozen=True)
class Reason:
    """Why one changed path affects the envs it does (Terraform plans, or Kubernetes
    manifests: `k8s_envs`)."""

    path: str
    envs: tuple[str, ...]
    why: str
    k8s_envs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    envs: tuple[str, ...]  # in the order given: the promotion order
    reasons: tuple[Reason, ...]  # one per changed path, in input order
    k8s: tuple[str, ...] = ()  # the envs whose Kubernetes manifests change, same order

    def as_matrix(self) -> dict[str, list[str]]:
        """`envs`: the Terraform roots to plan; `k8s`: the envs whose rendered manifests
        to diff (`mlops k8s diff`). Both in promotion order."""
        return {"envs": list(self.envs), "k8s": list(self.k8s)}

    def explain(self) -> str:
        if not self.reasons:
            return "no changed files: no env affected"
        lines = []
        for reason in self.reasons:
            if reason.k8s_envs:
                target = "Kubernetes manifests of " + ", ".join(reason.k8s_envs)
            else:
                target = ", ".join(reason.envs) if reason.envs else "no env"
            lines.append(f"{reason.path}: {target} ({reason.why})")
        summary = ", ".join(self.envs) if self.envs else "none"
        lines.append(f"=> envs to plan: {summary}")
        if self.k8s:
            lines.append(f"=> Kubernetes manifests to diff: {', '.join(self.k8s)}")
        return "\n".join(lines)


def match_rule(path: str, rules: Sequence[PathRule] = PATH_RULES) -> PathRule | None:
    for rule in rules:
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in rule.patterns):
            return rule
    return None


def _env_for(path: str, depth: int = 1) -> str:
    """The path component at `depth` (envs/<env>/..., k8s/overlays/<env>/...), when the
    path goes deeper than it."""
    parts = path.split("/")
    return parts[depth] if len(parts) > depth + 1 else ""


def _module_reason(
    path: str, envs: Sequence[str], chains: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> Reason:
    hits: list[str] = []
    via: list[str] = []
    for env in envs:
        best: tuple[str, ...] | None = None
        for module_dir, chain in chains[env].items():
            if path.startswith(module_dir + "/") and (best is None or len(chain) < len(best)):
                best = chain
        if best is not None:
            hits.append(env)
            via.append(" -> ".join(best))
    if not hits:
        module = "/".join(path.split("/")[:2])
        return Reason(path, (), f"{module} is not called by any env root")
    return Reason(path, tuple(hits), "used via " + "; ".join(via))


def affected_envs(
    changed_files: Iterable[str],
    module_graph: ModuleGraph,
    envs: Sequence[str],
    rules: Sequence[PathRule] = PATH_RULES,
) -> Decision:
    """Decide which envs to plan for a change, and why, path by path.

    `envs` is the list from mlops.yaml in promotion order, which sets the output order.
    Env roots are `envs/<env>`; `module_graph` comes from `build_module_graph`.
    """
    chains = {env: module_chains(f"envs/{env}", module_graph) for env in envs}
    reasons: list[Reason] = []
    seen_paths: set[str] = set()
    for raw in changed_files:
        path = raw.strip().lstrip("/")
        if path.startswith("./"):
            path = path[2:]
        if not path or path in seen_paths:
            continue
        seen_paths.add(path)
        rule = match_rule(path, rules)
        if rule is None:
            reasons.append(Reason(path, tuple(envs), FALLBACK_REASON))
        elif rule.kind is Kind.NONE:
            reasons.append(Reason(path, (), rule.reason))
        elif rule.kind is Kind.ALL:
            reasons.append(Reason(path, tuple(envs), rule.reason))
        elif rule.kind is Kind.K8S_ALL:
            reasons.append(Reason(path, (), rule.reason, k8s_envs=tuple(envs)))
        elif rule.kind is Kind.K8S_ENV:
            env = _env_for(path, depth=2)
            if env in envs:
                where = path.split("/")[1]
                reasons.append(Reason(path, (), f"k8s/{where}/{env}: the {env} env's "
                                      f"{'overlay' if where == 'overlays' else 'Flux objects'}",
                                      k8s_envs=(env,)))
            else:
                reasons.append(Reason(path, (), f"k8s/{path.split('/')[1]}/{env or '?'} is not "
                                      "an env listed in mlops.yaml"))
        elif rule.kind is Kind.ENV:
            env = _env_for(path)
            if env in envs:
                reasons.append(Reason(path, (env,), f"inside the {env} env root"))
            else:
                reasons.append(
                    Reason(path, (), f"envs/{env or '?'} is not an env listed in mlops.yaml")
                )
        else:
            reasons.append(_module_reason(path, envs, chains))
    hit = {env for reason in reasons for env in reason.envs}
    k8s_hit = {env for reason in reasons for env in reason.k8s_envs}
    return Decision(tuple(env for env in envs if env in hit), tuple(reasons),
                    tuple(env for env in envs if env in k8s_hit))


# ---------------------------------------------------------------------------------------
# Module tests: which modules' plan and apply tests a change needs.
# ---------------------------------------------------------------------------------------

MODULE_TEST_FILES = (
    "tests/terraform/test_modules_plan.py",
    "tests/terraform/test_modules_apply.py",
)
_MODULE_TEST_MATERIAL = ("tests/terraform/fixtures/", "tests/terraform/inventories/")


@dataclass(frozen=True)
class ModuleDecision:
    modules: tuple[str, ...]  # module names (directories under modules/), sorted
    reasons: tuple[Reason, ...]  # Reason.envs holds module names here

    def as_json(self) -> dict[str, list[str]]:
        return {"modules": list(self.modules)}

    def explain(self) -> str:
        lines = [f"{r.path}: {', '.join(r.envs) or 'no module'} ({r.why})" for r in self.reasons]
        lines.append(f"=> modules to test: {', '.join(self.modules) or 'none'}")
        return "\n".join(lines)


def affected_modules(changed_files: Iterable[str], module_graph: ModuleGraph,
                     modules: Sequence[str]) -> ModuleDecision:
    """The modules whose tests a change needs: a module whose files changed, every module
    that calls it (directly or through other modules), a module whose test fixture root or
    inventory changed; every module when the module test files themselves changed."""
    callers = {m: module_chains(f"modules/{m}", module_graph) for m in modules}
    reasons: list[Reason] = []
    seen: set[str] = set()
    for raw in changed_files:
        path = raw.strip().lstrip("/").removeprefix("./")
        if not path or path in seen:
            continue
        seen.add(path)
        parts = path.split("/")
        if path in MODULE_TEST_FILES:
            reasons.append(Reason(path, tuple(modules), "the module tests themselves changed"))
        elif path.startswith(_MODULE_TEST_MATERIAL) and len(parts) > 3:
            name = parts[3].removesuffix(".yaml")
            material: tuple[str, ...] = (name,) if name in modules else ()
            reasons.append(Reason(path, material, f"test material of modules/{name}"))
        elif parts[0] == "modules" and len(parts) > 2:
            changed = f"modules/{parts[1]}"
            users = tuple(m for m in modules
                          if f"modules/{m}" == changed or changed in callers[m])
            why = "inside the module" if users == (parts[1],) else \
                f"{changed} changed; the modules calling it are tested too"
            reasons.append(Reason(path, users, why))
        else:
            reasons.append(Reason(path, (), "not a module or its test material"))
    return ModuleDecision(tuple(sorted({m for r in reasons for m in r.envs})), tuple(reasons))


# ---------------------------------------------------------------------------------------
# Apply order: the affected envs as promotion waves (main.yml's wave jobs).
# ---------------------------------------------------------------------------------------


def affected_waves(affected: Iterable[str], waves: Sequence[Sequence[str]]) -> list[list[str]]:
    """The affected envs grouped by promotion wave (`core.envs.promotion_waves`), waves
    with no affected env left out: an env is applied only after every affected env of an
    earlier wave. Unaffected envs never appear; the order inside a wave is kept."""
    hit = set(affected)
    grouped = [[env for env in wave if env in hit] for wave in waves]
    return [wave for wave in grouped if wave]


def wave_slots_problem(waves: Sequence[Sequence[str]], slots: int) -> str | None:
    """Why `waves` do not fit a workflow with `slots` wave jobs (None when they do).
    A workflow cannot make jobs at run time, so main.yml has a fixed number of wave jobs;
    a fork whose promotion order grows past them must add one rather than have an env
    silently never applied."""
    if len(waves) > slots:
        return (f"the change affects {len(waves)} promotion waves "
                f"({' -> '.join(', '.join(w) for w in waves)}) but the workflow has "
                f"{slots} wave jobs")
    return None


# ---------------------------------------------------------------------------------------
# Releases: which envs a change releases a model to (main.yml promotes their canary).
# ---------------------------------------------------------------------------------------

RELEASE_BLOCK = "serving"  # the tfvars block `mlops release` edits (docs/models.md)


def block_tokens(text: str, name: str) -> tuple[tuple[str, str], ...] | None:
    """The tokens of the top-level `name = { ... }` in tfvars text (comments and layout
    left out, so reformatting is no change); None when there is no such block."""
    depth = 0
    window: list[Token] = []
    found: list[tuple[str, str]] | None = None
    inner = 0
    last_ident = ""
    for tok in tokens(text):
        if found is not None:
            if tok.kind == "punct" and tok.value in "{[(":
                inner += 1
            elif tok.kind == "punct" and tok.value in "}])":
                inner -= 1
                if inner == 0:
                    return tuple(found)
            found.append((tok.kind, tok.value))
            continue
        window = [*window[-1:], tok]
        if tok.kind == "punct" and tok.value == "{" and depth == 0 and len(window) == 2 \
                and window[0] == Token("punct", "=") and last_ident == name:
            found, inner = [], 1
            continue
        if tok.kind == "punct" and tok.value in "{[(":
            depth += 1
        elif tok.kind == "punct" and tok.value in "}])":
            depth = max(0, depth - 1)
        if tok.kind == "ident" and depth == 0:
            last_ident = tok.value
        elif not (tok.kind == "punct" and tok.value == "="):
            last_ident = ""
    return None


def released_envs(envs: Sequence[str], before: Mapping[str, str],
                  after: Mapping[str, str]) -> tuple[str, ...]:
    """The envs whose `serving` block (the model releases) differs between the tfvars text
    before and after the change (`{env: text}`; a missing env or block counts as none).
    An env whose block is gone after the change releases nothing to promote."""
    changed = []
    for env in envs:
        new = block_tokens(after.get(env, ""), RELEASE_BLOCK)
        if new is not None and new != block_tokens(before.get(env, ""), RELEASE_BLOCK):
            changed.append(env)
    return tuple(changed)
