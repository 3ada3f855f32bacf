"""Kubernetes manifests, pure: what `kubectl kustomize` rendered, what it must satisfy, the
release state of an overlay (which image and model each track runs, the canary's
weight), promotion and rollback decisions, the overlay edits that carry them out, and
the reviewable diff of two renders. No kubectl, no files, no environment: the shell
(`mlops k8s ...`) renders through adapters.kubectl and hands the text in.

The layout it expects (docs/kubernetes.md):

    k8s/base/model-server/        the base: stable + canary tracks, HTTPRoute, HPA, ...
    k8s/overlays/<env>/           one per env in mlops.yaml; release.yaml (images and
                                  models per track) and traffic.yaml (route weights) are
                                  what promote/rollback edit
    k8s/clusters/<env>/           the Flux GitRepository + Kustomization applying it
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

STABLE = "model-server-stable"
CANARY = "model-server-canary"
BATCH = "model-server-batch"
ROUTE = "model-server"
SERVER_CONTAINER = "server"
BATCH_CONTAINER = "batch"
UNPACK_CONTAINER = "unpack-model"
MODEL_ANNOTATION = "mlops/model-uri"
RELEASE_FILE = "release.yaml"
TRAFFIC_FILE = "traffic.yaml"
OVERLAYS = "overlays"
CLUSTERS = "clusters"
# Groups whose kinds the npm schema packages validate; the rest are built-in kinds.
CRD_GROUPS = re.compile(r"^(gateway\.networking\.(x-)?k8s\.io|[a-z]+\.toolkit\.fluxcd\.io)$")
REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted; changed>"
_MODEL_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(?:[^/]+/)*models/"
                        r"[0-9a-f]{64}/model\.tar\.gz$")


# ---------------------------------------------------------------- rendered objects


def parse_manifests(text: str, source: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream (`kubectl kustomize` output)."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: not valid YAML ({err})") from err
    objects = []
    for i, doc in enumerate(documents):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or not (
                isinstance(doc.get("metadata"), dict) and doc["metadata"].get("name")):
            raise ValueError(f"{source}: document {i + 1} is not a Kubernetes object "
                             "(kind and metadata.name)")
        objects.append(doc)
    return objects


def object_id(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def api_group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def is_crd_kind(obj: Mapping[str, Any]) -> bool:
    """Gateway API and Flux kinds: validated with the npm schema packages."""
    return bool(CRD_GROUPS.match(api_group(str(obj.get("apiVersion", "")))))


def find(objects: Iterable[Mapping[str, Any]], kind: str, name: str) -> Mapping[str, Any] | None:
    for obj in objects:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return obj
    return None


# ---------------------------------------------------------------- findings


@dataclass(frozen=True, order=True)
class Finding:
    """One thing wrong with a rendered overlay. `check`: schema, policy:<rule>, flux."""

    overlay: str  # "dev" or "clusters/dev"
    kind: str
    name: str
    field: str
    message: str
    check: str

    def render(self) -> str:
        where = f"{self.kind}/{self.name}" if self.kind else "(overlay)"
        place = f"{self.field}: " if self.field else ""
        return f"{self.overlay}: {where}: {place}{self.message} [{self.check}]"


def policy_findings(overlay: str, violations: Iterable[Any]) -> list[Finding]:
    """core.policy.Violation (message "Kind/name: field: text") -> Findings."""
    found = []
    for v in violations:
        kind, _, name = v.address.partition("/")
        text = v.message.removeprefix(f"{v.address}: ")
        place, sep, rest = text.partition(": ")
        field_, message = (place, rest) if sep and " " not in place else ("", text)
        found.append(Finding(overlay, kind, name, field_, message, f"policy:{v.rule}"))
    return found


def policy_data(base: Mapping[str, Any], env: str) -> dict[str, Any]:
    """policies/k8s/data merged with the run's context (the env of the overlay)."""
    if "context" in base:
        raise ValueError("policy data files must not define the top-level key `context`; "
                         "mlops sets it from the overlay's env")
    return {**base, "context": {"env": env}}


def layout_problems(envs: Sequence[str], overlays: Iterable[str],
                    clusters: Iterable[str]) -> list[str]:
    """Every env of mlops.yaml has its overlay and Flux dir, and nothing else does."""
    problems = []
    for kind, found in ((OVERLAYS, set(overlays)), (CLUSTERS, set(clusters))):
        for env in envs:
            if env not in found:
                problems.append(f"k8s/{kind}/{env}/ is missing: mlops.yaml lists env {env}")
        for extra in sorted(found - set(envs)):
            problems.append(f"k8s/{kind}/{extra}/ belongs to no env of mlops.yaml")
    return problems


def flux_findings(env: str, objects: Sequence[Mapping[str, Any]],
                  github_repo: str) -> list[Finding]:
    """k8s/clusters/<env>/ must apply k8s/overlays/<env> from this repository."""
    where = f"{CLUSTERS}/{env}"
    sources = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "GitRepository"}
    kustomizations = [o for o in objects if o.get("kind") == "Kustomization"
                      and api_group(str(o.get("apiVersion", ""))) == "kustomize.toolkit.fluxcd.io"]
    found: list[Finding] = []
    if not kustomizations:
        found.append(Finding(where, "", "", "", "no Flux Kustomization: nothing would apply "
                             f"k8s/{OVERLAYS}/{env}", "flux"))
    wanted_path = f"./k8s/{OVERLAYS}/{env}"
    repo_url = f"https://github.com/{github_repo}"
    for k in kustomizations:
        spec = k.get("spec") or {}
        name = k["metadata"]["name"]
        if str(spec.get("path", "")).rstrip("/") not in (wanted_path, wanted_path[2:]):
            found.append(Finding(where, "Kustomization", name, "spec.path",
                                 f"{spec.get('path')!r} is not {wanted_path!r}: this "
                                 f"cluster would apply another env's overlay", "flux"))
        ref = spec.get("sourceRef") or {}
        if ref.get("kind") != "GitRepository" or ref.get("name") not in sources:
            found.append(Finding(where, "Kustomization", name, "spec.sourceRef",
                                 f"{ref.get('kind')}/{ref.get('name')} is not a GitRepository "
                                 "in this directory", "flux"))
    for name, source in sources.items():
        url = str((source.get("spec") or {}).get("url", "")).removesuffix(".git").rstrip("/")
        if url.lower() not in (repo_url.lower(), f"ssh://git@github.com/{github_repo}".lower()):
            found.append(Finding(where, "GitRepository", name, "spec.url",
                                 f"{url!r} is not this repository ({repo_url}, github_repo "
                                 "in mlops.yaml)", "flux"))
    return found


# ---------------------------------------------------------------- release state


@dataclass(frozen=True)
class Track:
    """What one Deployment runs: its server image and its model artifact."""

    image: str
    model_uri: str

    def short(self) -> str:
        model = self.model_uri.rsplit("/models/", 1)[-1].split("/", 1)[0][:12]
        return f"{self.image.rsplit('/', 1)[-1]} + model {model}"


@dataclass(frozen=True)
class ReleaseState:
    """An overlay's release, read from its render: the oracle is kustomize's output."""

    stable: Track
    canary: Track
    stable_weight: int
    canary_weight: int
    batch_model: str | None

    @property
    def has_canary(self) -> bool:
        return self.canary != self.stable


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    template = (obj.get("spec") or {}).get("template") or {}
    if obj.get("kind") == "CronJob":
        template = (((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get(
            "template") or {}
    return template


def _track(obj: Mapping[str, Any], container: str) -> Track:
    name = object_id(obj)
    template = _pod_spec(obj)
    spec = template.get("spec") or {}
    images = {c.get("name"): c.get("image") for c in spec.get("containers") or []}
    inits = {c.get("name"): c.get("image") for c in spec.get("initContainers") or []}
    if container not in images:
        raise ValueError(f"{name} has no container {container!r}")
    if UNPACK_CONTAINER in inits and inits[UNPACK_CONTAINER] != images[container]:
        raise ValueError(f"{name}: the {UNPACK_CONTAINER} init container runs "
                         f"{inits[UNPACK_CONTAINER]} but {container} runs {images[container]}; "
                         "they must be the same image (release.yaml sets both)")
    uri = ((template.get("metadata") or {}).get("annotations") or {}).get(MODEL_ANNOTATION)
    if not isinstance(uri, str):
        raise ValueError(f"{name} has no {MODEL_ANNOTATION} annotation on its pod template")
    return Track(str(images[container]), uri)


def _weights(route: Mapping[str, Any]) -> dict[str, int]:
    rules = (route.get("spec") or {}).get("rules") or []
    if len(rules) != 1:
        raise ValueError(f"HTTPRoute/{ROUTE} has {len(rules)} rules; the canary split needs "
                         "exactly one")
    weights: dict[str, int] = {}
    for ref in rules[0].get("backendRefs") or []:
        weights[str(ref.get("name"))] = int(ref.get("weight", 1))
    return weights


def release_state(objects: Sequence[Mapping[str, Any]]) -> ReleaseState:
    """The release of a rendered overlay; ValueError when it has no canary setup."""
    stable, canary = find(objects, "Deployment", STABLE), find(objects, "Deployment", CANARY)
    route = find(objects, "HTTPRoute", ROUTE)
    missing = [n for n, o in ((f"Deployment/{STABLE}", stable), (f"Deployment/{CANARY}", canary),
                              (f"HTTPRoute/{ROUTE}", route)) if o is None]
    if missing or stable is None or canary is None or route is None:
        raise ValueError(f"the overlay has no canary setup: {', '.join(missing)} missing")
    weights = _weights(route)
    if set(weights) != {STABLE, CANARY}:
        raise ValueError(f"HTTPRoute/{ROUTE} routes to {', '.join(sorted(weights))}; the canary "
                         f"split is between {STABLE} and {CANARY}")
    batch = find(objects, "CronJob", BATCH)
    batch_model = _track(batch, BATCH_CONTAINER).model_uri if batch is not None else None
    return ReleaseState(_track(stable, SERVER_CONTAINER), _track(canary, SERVER_CONTAINER),
                        weights[STABLE], weights[CANARY], batch_model)


# ---------------------------------------------------------------- decisions


class Refused(ValueError):
    """The promotion or rollback cannot be made: the message says why and what to do."""


@dataclass(frozen=True)
class Change:
    """A promotion or rollback: the release it leads to, and what it means in words."""

    action: str  # "promote" or "rollback"
    before: ReleaseState
    after: ReleaseState
    summary: tuple[str, ...] = field(default=())

    @property
    def noop(self) -> bool:
        return self.before == self.after


def check_weight(weight: int) -> int:
    if not 0 <= weight <= 100:
        raise Refused(f"weight {weight} is outside 0-100: it is the canary's percentage of "
                      "requests")
    return weight


def promote(state: ReleaseState, weight: int) -> Change:
    """Send `weight` % of the requests to the canary. 100 finishes the promotion: the
    stable track (autoscaled, protected by the PDB) and the batch job take the canary's
    image and model, and all traffic goes to stable, whose pods roll over one at a time.
    The canary is sized for a slice of traffic, so it never keeps 100 % itself."""
    check_weight(weight)
    if not state.has_canary:
        raise Refused("the overlay has no canary: model-server-canary runs what "
                      "model-server-stable runs "
                      f"({state.stable.short()})")
    if weight == 100:
        after = replace(state, stable=state.canary, stable_weight=100, canary_weight=0,
                        batch_model=state.canary.model_uri if state.batch_model else None)
        lines: tuple[str, ...] = (f"stable: {state.stable.short()} -> {state.canary.short()}",
                 f"traffic: canary {state.canary_weight} % -> 0 %, stable "
                 f"{state.stable_weight} % -> 100 % (the new version, on the stable track)")
        if state.batch_model:
            lines += ("batch inference: the promoted model",)
        return Change("promote", state, after, lines)
    after = replace(state, stable_weight=100 - weight, canary_weight=weight)
    return Change("promote", state, after,
                  (f"traffic: canary {state.canary_weight} % -> {weight} % "
                   f"({state.canary.short()}), stable {state.stable_weight} % -> "
                   f"{100 - weight} %",))


def rollback(state: ReleaseState) -> Change:
    """Every request back to stable; the canary back to stable's image and model, so the
    bad version stops running at all."""
    if not state.has_canary and state.canary_weight == 0:
        raise Refused("the overlay has no canary to roll back: model-server-canary already runs "
                      f"what model-server-stable runs ({state.stable.short()}), with 0 % of "
                      "the requests")
    after = replace(state, canary=state.stable, stable_weight=100, canary_weight=0)
    return Change("rollback", state, after,
                  (f"traffic: canary {state.canary_weight} % -> 0 %, stable "
                   f"{state.stable_weight} % -> 100 %",
                   f"canary: {state.canary.short()} -> {state.stable.short()} (stable's)"))


def verify_render(change: Change, rendered: ReleaseState) -> list[str]:
    """What the edited overlay's render shows that the change did not ask for."""
    wanted = change.after
    problems = []
    for label, got, want in (("stable weight", rendered.stable_weight, wanted.stable_weight),
                             ("canary weight", rendered.canary_weight, wanted.canary_weight),
                             ("stable track", rendered.stable, wanted.stable),
                             ("canary track", rendered.canary, wanted.canary),
                             ("batch model", rendered.batch_model, wanted.batch_model)):
        if got != want:
            problems.append(f"{label}: the render has {got!r}, the change asked for {want!r}")
    return problems


# ---------------------------------------------------------------- overlay edits


def sequence_style(text: str) -> tuple[int, int]:
    """(sequence indent, dash offset) of the file, from its first list, so that a round
    trip writes lists back the way they were written: `key:\n  - a` is (4, 2),
    `key:\n- a` and a top-level `- a` are (2, 0)."""
    lines = [line for line in text.splitlines() if line.strip() and
             not line.lstrip().startswith("#")]
    for i, line in enumerate(lines):
        item = re.match(r"^( *)- ", line)
        if item is None:
            continue
        if i == 0 or not lines[i - 1].rstrip().endswith(":"):
            return (2, 0) if not item.group(1) else (len(item.group(1)) + 2, len(item.group(1)))
        parent = len(lines[i - 1]) - len(lines[i - 1].lstrip())
        offset = max(0, len(item.group(1)) - parent)
        return offset + 2, offset
    return 4, 2


def _yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    editor = YAML()  # round trip: comments, order, anchors and quoting are kept
    editor.preserve_quotes = True
    editor.width = 4096
    sequence, offset = sequence_style(text)
    editor.indent(mapping=2, sequence=sequence, offset=offset)
    return editor


def _dump_all(editor: Any, documents: Sequence[Any]) -> str:
    out = io.StringIO()
    editor.dump_all(documents, out)
    return out.getvalue()


def edit_traffic(text: str, stable_weight: int, canary_weight: int) -> str:
    """traffic.yaml (JSON patch ops on the HTTPRoute) with the two weights set. Each weight
    op is identified by the `test` op on the backend's name that precedes it."""
    editor = _yaml(text)
    ops = editor.load(text)
    if not isinstance(ops, list):
        raise ValueError(f"{TRAFFIC_FILE} is not a list of JSON patch operations")
    wanted = {STABLE: stable_weight, CANARY: canary_weight}
    names: dict[str, str] = {}  # backendRefs/<i> -> backend name, from the test ops
    done: set[str] = set()
    for op in ops:
        path = str(op.get("path", ""))
        match = re.match(r"^/spec/rules/0/backendRefs/(\d+)/(name|weight)$", path)
        if not match:
            continue
        if match.group(2) == "name" and op.get("op") == "test":
            names[match.group(1)] = str(op.get("value"))
        elif match.group(2) == "weight" and op.get("op") in ("replace", "add"):
            backend = names.get(match.group(1))
            if backend in wanted:
                op["value"] = wanted[backend]
                done.add(backend)
    missing = sorted(set(wanted) - done)
    if missing:
        raise ValueError(f"{TRAFFIC_FILE} sets no weight for {', '.join(missing)}: each weight "
                         "is a `replace` op after a `test` op on its backend's name")
    out = io.StringIO()
    editor.dump(ops, out)
    return out.getvalue()


def _set_image(containers: Any, name: str, image: str) -> Any | None:
    """Set `image` of container `name`; returns the (anchored) scalar now in place."""
    for container in containers or []:
        if container.get("name") == name:
            old = container.get("image")
            new = _scalar_like(old, image)
            container["image"] = new
            return new
    return None


def _scalar_like(old: Any, value: str) -> Any:
    """`value`, keeping the YAML anchor of `old` (so `*alias` uses stay tied to it)."""
    from ruamel.yaml.scalarstring import PlainScalarString

    anchor = getattr(old, "anchor", None)
    if anchor is not None and getattr(anchor, "value", None):
        new = PlainScalarString(value)
        new.yaml_set_anchor(anchor.value, always_dump=True)
        return new
    return value


def edit_release(text: str, deployment: str, track: Track) -> str:
    """release.yaml with `deployment` (stable or canary) running `track`: its model-uri
    annotation and the image of its server and unpack-model containers."""
    editor = _yaml(text)
    documents = list(editor.load_all(text))
    for doc in documents:
        if not (isinstance(doc, dict) and doc.get("kind") == "Deployment"
                and (doc.get("metadata") or {}).get("name") == deployment):
            continue
        template = doc["spec"]["template"]
        template["metadata"]["annotations"][MODEL_ANNOTATION] = track.model_uri
        spec = template["spec"]
        new = _set_image(spec.get("initContainers"), UNPACK_CONTAINER, track.image)
        for container in spec.get("containers") or []:
            if container.get("name") == SERVER_CONTAINER:
                anchored = new is not None and getattr(new, "anchor", None) is not None
                container["image"] = new if anchored else track.image
        return _dump_all(editor, documents)
    raise ValueError(f"{RELEASE_FILE} has no patch for Deployment/{deployment}")


def edit_batch_model(text: str, model_uri: str) -> str:
    editor = _yaml(text)
    documents = list(editor.load_all(text))
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "CronJob" and (
                doc.get("metadata") or {}).get("name") == BATCH:
            doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"][
                MODEL_ANNOTATION] = model_uri
            return _dump_all(editor, documents)
    raise ValueError(f"{RELEASE_FILE} has no patch for CronJob/{BATCH}")


def apply_change(change: Change, release_text: str, traffic_text: str) -> dict[str, str]:
    """The overlay files the change rewrites: {file name: new text} (only those it changes)."""
    before, after = change.before, change.after
    files: dict[str, str] = {}
    release = release_text
    if after.stable != before.stable:
        release = edit_release(release, STABLE, after.stable)
    if after.canary != before.canary:
        release = edit_release(release, CANARY, after.canary)
    if after.batch_model != before.batch_model and after.batch_model is not None:
        release = edit_batch_model(release, after.batch_model)
    if release != release_text:
        files[RELEASE_FILE] = release
    if (after.stable_weight, after.canary_weight) != (before.stable_weight, before.canary_weight):
        files[TRAFFIC_FILE] = edit_traffic(traffic_text, after.stable_weight,
                                           after.canary_weight)
    return files


def branch_name(change: Change, env: str) -> str:
    if change.action == "rollback":
        return f"k8s/rollback-{env}"
    weight = change.after.canary_weight
    return f"k8s/promote-{env}-{weight if weight else 'done'}"


def change_title(change: Change, env: str, weight: int | None = None) -> str:
    if change.action == "rollback":
        return f"k8s: roll back the {env} canary"
    if weight == 100:
        return f"k8s: finish the {env} promotion (stable takes the canary's version)"
    return f"k8s: send {weight} % of {env} requests to the canary"


def is_model_uri(value: str) -> bool:
    return bool(_MODEL_URI.match(value))


# ---------------------------------------------------------------- rendered diff


def redact_secrets(objects: Sequence[Mapping[str, Any]],
                   other: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """`objects` with every Secret's data/stringData values replaced: REDACTED, or
    REDACTED_CHANGED where the same Secret in `other` (the other side of a diff) has a
    different value under the same key. Keys stay visible; values never."""
    others = {(o.get("metadata", {}).get("namespace"), o.get("metadata", {}).get("name")): o
              for o in other if o.get("kind") == "Secret"}
    out = []
    for obj in objects:
        if obj.get("kind") != "Secret":
            out.append(dict(obj))
            continue
        copy = dict(obj)
        key = (obj.get("metadata", {}).get("namespace"), obj.get("metadata", {}).get("name"))
        twin = others.get(key, {})
        for section in ("data", "stringData"):
            values = obj.get(section)
            if not isinstance(values, dict):
                continue
            other_values = twin.get(section)
            theirs: Mapping[str, Any] = other_values if isinstance(other_values, dict) else {}
            copy[section] = {k: (REDACTED_CHANGED if k in theirs and theirs[k] != v
                                 else REDACTED) for k, v in values.items()}
        out.append(copy)
    return out


def manifest_text(objects: Sequence[Mapping[str, Any]]) -> str:
    """One stable text per render: objects sorted by kind, namespace and name, keys sorted,
    each after a `# Kind/namespace/name` line (diff hunks then say which object changes)."""
    def key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
        meta = obj.get("metadata", {})
        return (str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))

    parts = []
    for obj in sorted(objects, key=key):
        kind, namespace, name = key(obj)
        parts.append(f"# {kind}/{namespace + '/' if namespace else ''}{name}\n"
                     + yaml.safe_dump(dict(obj), sort_keys=True, default_flow_style=False,
                                      width=4096))
    return "---\n".join(parts)


@dataclass(frozen=True)
class ManifestDiff:
    env: str
    diff: str  # unified diff, "" when the renders are equal
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "diff": self.diff, "added": list(self.added),
                "removed": list(self.removed), "changed": list(self.changed)}


def diff_renders(env: str, base: Sequence[Mapping[str, Any]],
                 head: Sequence[Mapping[str, Any]], *, base_label: str = "base",
                 head_label: str = "head") -> ManifestDiff:
    """The unified diff of two renders of an env, Secret values redacted on both sides: a
    value that changed shows as REDACTED -> REDACTED_CHANGED, never as itself."""
    base_r, head_r = redact_secrets(base), redact_secrets(head, base)

    def ids(objs: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        return {f"{o.get('kind')}/{o.get('metadata', {}).get('namespace', '') or '-'}/"
                f"{o.get('metadata', {}).get('name')}": o for o in objs}

    before, after = ids(base_r), ids(head_r)
    added = tuple(sorted(set(after) - set(before)))
    removed = tuple(sorted(set(before) - set(after)))
    changed = tuple(sorted(k for k in set(before) & set(after) if before[k] != after[k]))
    old, new = manifest_text(base_r).splitlines(), manifest_text(head_r).splitlines()
    lines = difflib.unified_diff(old, new, fromfile=f"{env} ({base_label})",
                                 tofile=f"{env} ({head_label})", lineterm="", n=3)
    return ManifestDiff(env, "\n".join(_with_object_context(lines, old, new)), added, removed,
                        changed)


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@$")


def _with_object_context(lines: Iterable[str], old: Sequence[str],
                         new: Sequence[str]) -> Iterator[str]:
    """Hunk headers name the object they are in, as git names the function:
    `@@ -614,10 +614,10 @@ HTTPRoute/mlops-demo-dev/model-server`."""
    for line in lines:
        match = _HUNK.match(line)
        if match:
            start_old, start_new = int(match.group(1)), int(match.group(2))
            name = _object_at(new, start_new + 2) or _object_at(old, start_old + 2)
            if name:
                line = f"{line} {name}"
        yield line


def _object_at(text: Sequence[str], line_no: int) -> str | None:
    """The `# Kind/ns/name` header governing 1-based line `line_no` of a manifest text."""
    for i in range(min(line_no, len(text)) - 1, -1, -1):
        if text[i].startswith("# ") and "/" in text[i]:
            return text[i][2:]
    return None


# ---------------------------------------------------------------- a new env's overlay


@dataclass(frozen=True)
class Scaffold:
    files: dict[str, str]  # path under k8s/ -> text
    notes: tuple[str, ...]


def scaffold_env(files: Mapping[str, str], like: str, new: str, like_region: str,
                 new_region: str) -> Scaffold:
    """A new env's k8s/overlays/<new>/ and k8s/clusters/<new>/ from --like's (`files`:
    {"overlays/<like>/x.yaml": text, ...}): every whole-word `like` becomes `new` (names,
    namespace, labels, buckets, roles, hostname, Flux path), and the region of
    settings.yaml's AWS_REGION follows the new env. Registry hosts and model URIs are
    left as they are, with notes saying what to review."""
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(like)}(?![A-Za-z0-9_])")
    out: dict[str, str] = {}
    for path, text in files.items():
        kind, _, rest = path.partition("/")
        _, _, name = rest.partition("/")
        text = word.sub(new, text)
        if name == "settings.yaml" and like_region != new_region:
            text = text.replace(f"AWS_REGION: {like_region}", f"AWS_REGION: {new_region}")
        out[f"{kind}/{new}/{name}"] = text
    notes = [f"k8s/overlays/{new}/release.yaml names the models of {like}, now under "
             f"{new}'s bucket: push them there (`mlops artifact push DIR --env {new}`) "
             "before Flux applies the overlay, or the pods wait in Init"]
    if like_region != new_region:
        notes.append(f"k8s/overlays/{new}/release.yaml: the ECR registry host is "
                     f"{like_region}'s; use {new_region}'s (or a replicated repository)")
    return Scaffold(out, tuple(notes))
