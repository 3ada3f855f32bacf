"""Plan JSON (`terraform show -json`, format 1.x) -> PlanSummary, the `summary.json` of a plan
directory. Pure.

Counting rules (`resource_changes[].change.actions`):
- ["delete","create"] and ["create","delete"] are one *replace*, never an add or a destroy;
- ["no-op"] with `change.importing` is an *import*; an import with an update counts both;
- `previous_address` is a *move*; a move with an update counts both;
- ["read"] is a data source read during apply; ["forget"] is a `removed` block;
- deposed objects being deleted count as destroys.
`resource_drift` is what changed outside of Terraform; `output_changes` the outputs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from mlops.core import cost
from mlops.core import fingerprint as fp
from mlops.core.masking import MASK, Masker, redact_value

SCHEMA_VERSION = 1
Status = Literal["ok", "failed"]
ENV_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_VALUE_CHARS = 200
MAX_ERROR_CHARS = 6000

# Resource types whose destroy or replacement loses something that cannot be re-created by
# applying again: data ("data") or live traffic ("serving"). Endpoint configurations and
# models are not here: SageMaker replaces them on every change, flagging them is noise.
CRITICAL_TYPES: Mapping[str, str] = {
    "aws_s3_bucket": "data",
    "aws_s3_directory_bucket": "data",
    "aws_s3_object": "data",
    "aws_dynamodb_table": "data",
    "aws_dynamodb_global_table": "data",
    "aws_db_instance": "data",
    "aws_rds_cluster": "data",
    "aws_docdb_cluster": "data",
    "aws_neptune_cluster": "data",
    "aws_redshift_cluster": "data",
    "aws_opensearch_domain": "data",
    "aws_elasticsearch_domain": "data",
    "aws_efs_file_system": "data",
    "aws_fsx_lustre_file_system": "data",
    "aws_ebs_volume": "data",
    "aws_ecr_repository": "data",
    "aws_kms_key": "data",
    "aws_secretsmanager_secret": "data",
    "aws_sagemaker_feature_group": "data",
    "aws_sagemaker_model_package_group": "data",
    "aws_sagemaker_domain": "data",
    "aws_sagemaker_endpoint": "serving",
}


def _check_env(env: str) -> str:
    if not ENV_RE.match(env):
        raise ValueError(f"env {env!r} is not a valid environment name (letters, digits, _ . -)")
    return env


@dataclass(frozen=True)
class Counts:
    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: int = 0
    import_: int = 0
    move: int = 0
    read: int = 0
    forget: int = 0
    outputs: int = 0  # output values changing
    drift: int = 0  # resources changed outside of Terraform

    def to_dict(self) -> dict[str, int]:
        return {f.name.rstrip("_"): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counts:
        return cls(**{f.name: int(data.get(f.name.rstrip("_"), 0)) for f in fields(cls)})

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                         for f in fields(self)})

    @property
    def resource_changes(self) -> int:
        """Changes apply would make to resources (reads and drift are not changes)."""
        return (self.add + self.change + self.destroy + self.replace + self.import_
                + self.move + self.forget)


@dataclass(frozen=True)
class ResourceRow:
    address: str
    type: str
    action: str  # create|update|delete|replace|read|forget|no-op
    importing: bool = False
    previous_address: str | None = None
    critical: str | None = None  # CRITICAL_TYPES reason when destroyed or replaced

    @property
    def label(self) -> str:
        parts = []
        if self.importing:
            parts.append("import")
        if self.previous_address:
            parts.append("move")
        if self.action != "no-op" or not parts:
            parts.append({"delete": "destroy"}.get(self.action, self.action))
        return " + ".join(parts)

    @property
    def destroys(self) -> bool:
        return self.action in ("delete", "replace")

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "type": self.type, "action": self.action,
                "importing": self.importing, "previous_address": self.previous_address,
                "critical": self.critical}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceRow:
        prev = data.get("previous_address")
        crit = data.get("critical")
        return cls(address=str(data["address"]), type=str(data.get("type", "")),
                   action=str(data["action"]), importing=bool(data.get("importing", False)),
                   previous_address=None if prev is None else str(prev),
                   critical=None if crit is None else str(crit))


@dataclass(frozen=True)
class OutputRow:
    name: str
    action: str  # create|update|delete
    before: str | None  # rendered, masked, clipped; None when absent
    after: str | None
    sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "before": self.before,
                "after": self.after, "sensitive": self.sensitive}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputRow:
        b, a = data.get("before"), data.get("after")
        return cls(name=str(data["name"]), action=str(data["action"]),
                   before=None if b is None else str(b), after=None if a is None else str(a),
                   sensitive=bool(data.get("sensitive", False)))


@dataclass(frozen=True)
class DriftRow:
    address: str
    type: str
    action: str  # update|delete (deleted outside of Terraform)

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "type": self.type, "action": self.action}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftRow:
        return cls(str(data["address"]), str(data.get("type", "")), str(data["action"]))


@dataclass(frozen=True)
class PlanSummary:
    env: str
    status: Status
    plan_hash: str  # sha256 hex of the canonical plan.json; "" for a failed plan
    counts: Counts = field(default_factory=Counts)
    resources: tuple[ResourceRow, ...] = ()
    outputs: tuple[OutputRow, ...] = ()
    drift: tuple[DriftRow, ...] = ()
    cost: tuple[cost.CostLine, ...] = ()
    prices_as_of: str | None = None
    terraform_version: str = ""
    error: str = ""  # masked, clipped error text of a failed plan
    # What the apply would do (core.fingerprint), for the stale-plan guard; "" when failed.
    fingerprint: str = ""
    # change (address or output.<name>) -> short digest; empty when failed
    fingerprint_items: Mapping[str, str] = field(default_factory=dict)
    commit: str = ""  # the commit the plan was made at (the PR head), "" when unknown

    @property
    def has_changes(self) -> bool:
        return self.counts.resource_changes > 0 or self.counts.outputs > 0

    @property
    def destroys(self) -> tuple[ResourceRow, ...]:
        return tuple(r for r in self.resources if r.destroys)

    @property
    def critical(self) -> tuple[ResourceRow, ...]:
        return tuple(r for r in self.destroys if r.critical)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "env": self.env,
            "status": self.status,
            "plan_hash": self.plan_hash,
            "terraform_version": self.terraform_version,
            "counts": self.counts.to_dict(),
            "resources": [r.to_dict() for r in self.resources],
            "outputs": [o.to_dict() for o in self.outputs],
            "drift": [d.to_dict() for d in self.drift],
            "cost": [c.to_dict() for c in self.cost],
            "prices_as_of": self.prices_as_of,
            "error": self.error,
            "fingerprint": self.fingerprint,
            "fingerprint_items": dict(sorted(self.fingerprint_items.items())),
            "commit": self.commit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanSummary:
        """Parse summary.json. Raises ValueError saying what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("summary.json must hold a JSON object")
        version = data.get("version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"summary.json version {version!r} is not {SCHEMA_VERSION} "
                             "(written by a different mlops version)")
        status = data.get("status")
        if status not in ("ok", "failed"):
            raise ValueError(f"summary.json status {status!r} is not 'ok' or 'failed'")
        try:
            env = _check_env(str(data["env"]))
            as_of = data.get("prices_as_of")
            return cls(
                env=env,
                status="ok" if status == "ok" else "failed",
                plan_hash=str(data.get("plan_hash") or ""),
                terraform_version=str(data.get("terraform_version") or ""),
                counts=Counts.from_dict(data.get("counts") or {}),
                resources=tuple(ResourceRow.from_dict(r) for r in data.get("resources") or []),
                outputs=tuple(OutputRow.from_dict(o) for o in data.get("outputs") or []),
                drift=tuple(DriftRow.from_dict(d) for d in data.get("drift") or []),
                cost=tuple(cost.CostLine.from_dict(c) for c in data.get("cost") or []),
                prices_as_of=None if as_of is None else str(as_of),
                error=str(data.get("error") or ""),
                fingerprint=str(data.get("fingerprint") or ""),
                fingerprint_items={str(k): str(v) for k, v in
                                   (data.get("fingerprint_items") or {}).items()},
                commit=str(data.get("commit") or ""),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"summary.json is malformed: {err!r}") from err


def plan_hash(plan: Mapping[str, Any]) -> str:
    """sha256 of the canonical bytes of plan.json: keys sorted, no whitespace, UTF-8.

    Canonical, so re-serialising the same plan (pretty-printed, reordered) keeps the hash.
    """
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _render_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = text.replace("\n", "\\n")
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _output_rows(plan: Mapping[str, Any], masker: Masker) -> list[OutputRow]:
    rows = []
    for name, oc in sorted((plan.get("output_changes") or {}).items()):
        actions = list(oc.get("actions") or [])
        if actions in (["no-op"], []):
            continue
        action = "update" if len(actions) > 1 else actions[0]
        sensitive = bool(oc.get("before_sensitive") is True or oc.get("after_sensitive") is True)
        rows.append(OutputRow(
            name=masker.mask(str(name)), action=action,
            before=_output_side(oc, "before", masker) if action != "create" else None,
            after=_output_side(oc, "after", masker) if action != "delete" else None,
            sensitive=sensitive,
        ))
    return rows


def _output_side(oc: Mapping[str, Any], key: str, masker: Masker) -> str:
    value = redact_value(oc.get(key), oc.get(f"{key}_sensitive"))
    if value == MASK:
        return MASK
    if key == "after" and oc.get("after_unknown") is True:
        return "(known after apply)"
    return masker.mask(_render_value(value))


def _row(rc: Mapping[str, Any], masker: Masker) -> ResourceRow | None:
    change = rc.get("change") or {}
    actions = list(change.get("actions") or [])
    importing = bool(change.get("importing"))
    prev = rc.get("previous_address")
    if sorted(actions) == ["create", "delete"]:
        action = "replace"
    elif len(actions) == 1:
        action = actions[0]
    else:
        action = "+".join(actions) or "no-op"
    if action == "no-op" and not importing and not prev:
        return None
    address = str(rc.get("address", ""))
    if rc.get("deposed"):
        address += f" (deposed {rc['deposed']})"
    rtype = str(rc.get("type", ""))
    critical = CRITICAL_TYPES.get(rtype) if action in ("delete", "replace") else None
    return ResourceRow(
        address=masker.mask(address), type=rtype, action=action, importing=importing,
        previous_address=masker.mask(str(prev)) if prev else None, critical=critical,
    )


def _leaf_paths(before: Any, after: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Attribute paths whose values differ between before and after."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in set(before) | set(after):
            yield from _leaf_paths(before.get(key), after.get(key), (*path, key))
    elif (isinstance(before, list) and isinstance(after, list)
          and len(before) == len(after)):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from _leaf_paths(b, a, (*path, i))
    elif before != after:
        yield path


def _relevant_drift(rc: Mapping[str, Any], plan: Mapping[str, Any],
                    changing: set[str]) -> bool:
    """Whether a drifted resource matters, the way Terraform decides what to show under
    "Objects have changed outside of Terraform": a delete, a resource that also has a
    planned change, or a changed attribute listed in `relevant_attributes` (what the
    planned changes read). Computed attributes that a provider fills in after apply
    (e.g. aws_s3_bucket's legacy blocks, inline_policy) are not drift anyone caused."""
    if "relevant_attributes" not in plan:  # older plan format: keep everything
        return True
    address = str(rc.get("address", ""))
    change = rc.get("change") or {}
    if "delete" in (change.get("actions") or []) or address in changing:
        return True
    wanted = [tuple(ra.get("attribute") or ()) for ra in plan.get("relevant_attributes") or []
              if ra.get("resource") == address]
    if not wanted:
        return False
    for changed in _leaf_paths(change.get("before"), change.get("after")):
        for attr in wanted:
            n = min(len(attr), len(changed))
            if tuple(attr[:n]) == tuple(changed[:n]):
                return True
    return False


def _count(rows: Sequence[ResourceRow], outputs: int, drift: int) -> Counts:
    n: dict[str, int] = {"create": 0, "update": 0, "delete": 0, "replace": 0, "read": 0,
                         "forget": 0}
    imports = moves = 0
    for row in rows:
        if row.action in n:
            n[row.action] += 1
        imports += row.importing
        moves += row.previous_address is not None
    return Counts(add=n["create"], change=n["update"], destroy=n["delete"],
                  replace=n["replace"], import_=imports, move=moves, read=n["read"],
                  forget=n["forget"], outputs=outputs, drift=drift)


def summarize(plan: Mapping[str, Any], env: str, *, masker: Masker | None = None,
              prices: cost.PriceTable | None = None, commit: str = "") -> PlanSummary:
    """Summarise a `terraform show -json` plan (format_version 1.x) for one environment,
    made at `commit` (recorded for the apply step's stale-plan guard)."""
    _check_env(env)
    masker = masker or Masker()
    fmt = str(plan.get("format_version", ""))
    if not fmt.startswith("1."):
        raise ValueError(f"plan JSON format_version {fmt!r} is not 1.x "
                         "(expected the output of `terraform show -json PLANFILE`)")
    resource_changes = [rc for rc in plan.get("resource_changes") or []
                        if isinstance(rc, Mapping)]
    rows = [row for rc in resource_changes if (row := _row(rc, masker)) is not None]
    outputs = _output_rows(plan, masker)
    drift = []
    changing = {str(rc.get("address")) for rc in resource_changes
                if (rc.get("change") or {}).get("actions") not in (None, ["no-op"], ["read"])}
    for rc in plan.get("resource_drift") or []:
        actions = list((rc.get("change") or {}).get("actions") or [])
        if actions and actions != ["no-op"] and _relevant_drift(rc, plan, changing):
            drift.append(DriftRow(masker.mask(str(rc.get("address", ""))),
                                  str(rc.get("type", "")),
                                  "delete" if "delete" in actions else "+".join(actions)))
    errored = bool(plan.get("errored"))
    printed = fp.fingerprint(plan, env)
    return PlanSummary(
        env=env,
        status="failed" if errored else "ok",
        plan_hash=plan_hash(plan),
        terraform_version=str(plan.get("terraform_version", "")),
        counts=_count(rows, len(outputs), len(drift)),
        resources=tuple(rows),
        outputs=tuple(outputs),
        drift=tuple(drift),
        cost=tuple(cost.cost_lines(resource_changes, prices)),
        prices_as_of=prices.as_of if prices is not None else None,
        error="terraform marked this plan as errored (incomplete)" if errored else "",
        fingerprint="" if errored else printed.digest,
        fingerprint_items={} if errored else dict(printed.items),
        commit=commit,
    )


def failed(env: str, error_text: str, *, masker: Masker | None = None,
           commit: str = "") -> PlanSummary:
    """The summary of a plan that did not complete: its (masked, clipped) error text."""
    _check_env(env)
    text = (masker or Masker()).mask(error_text.strip())
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + f"\n… ({len(text) - MAX_ERROR_CHARS} characters cut)"
    return PlanSummary(env=env, status="failed", plan_hash="", error=text, commit=commit)
