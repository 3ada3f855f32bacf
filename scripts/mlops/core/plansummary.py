"""Plan JSON (`terraform show -json`, format 1.x) -> PlanSummary, the `summary.json` of a plan
directory. Pure.

The summary says what Terraform's own renderer says about the same plan (`terraform show`,
hashicorp/terraform `internal/command/jsonformat`: plan.go, diff.go; the JSON fields are
`internal/command/jsonplan/plan.go`). tests/terraform/test_plan_corpus.py checks it against
`terraform show` of real plans.

Resources (`resource_changes[].change.actions`), as `renderHuman` lists and counts them:
- ["delete","create"] and ["create","delete"] are one *replace*, never an add or a destroy;
  ["create","forget"] replaces without destroying the old object (`destroy = false`);
- ["no-op"] is shown only when it is an *import* (`change.importing`) or a *move*
  (`previous_address` other than `address`); an import or move with an update counts both;
- ["read"] is a data source read during apply; ["forget"] is a `removed` block;
  a deleted *data* source is not shown at all; deposed objects being deleted are destroys.

Drift (`resource_drift`, "Objects have changed outside of Terraform"), as `precomputeDiffs`
and `renderHumanDiffDrift` decide:
- a refresh-only plan shows all of it;
- any other plan shows a drifted resource only when an entry of `relevant_attributes` names
  it (or names no resource) and one of those attributes changed. The field is `omitempty`:
  absent means *nothing* is relevant. A planned change of the same address does not make
  its drift relevant. A plan that is otherwise empty shows no drift at all.
The plan JSON does not record the mode (`terraform plan -refresh-only` / `-destroy`): mlops
passes the mode of the plans it makes; for other plans it is inferred from what Terraform
guarantees (`internal/terraform/context_plan.go`): a refresh-only plan never has resource
changes, and is applyable exactly when the refresh changed the state.

Also read: `output_changes` (partly unknown values shown as `(known after apply)`),
`action_invocations` (Terraform 1.14: an action-only plan has changes), `deferred_changes`,
`complete`, `applyable` and `errored`. Anything else is ignored. Input that is not the plan
JSON Terraform writes raises ValueError saying what is wrong, never another exception.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from mlops.core import cost, envs
from mlops.core import fingerprint as fp
from mlops.core.masking import MASK, Masker, redact_value

# 2: drift as Terraform shows it, mode, applyable/complete, actions and deferred changes.
SCHEMA_VERSION = 2
Status = Literal["ok", "failed"]
MODES = ("normal", "destroy", "refresh-only")
ENV_RE = envs.ENV_NAME_RE
MAX_VALUE_CHARS = 200
MAX_ERROR_CHARS = 6000
UNKNOWN_TEXT = "(known after apply)"

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
    problem = envs.env_name_problem(env)
    if problem:
        raise ValueError(f"{problem}: not a valid environment name")
    return env


# ---------------------------------------------------------------- reading untrusted JSON


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is {type(value).__name__}, not an object")
    return value


def _objects(container: Mapping[str, Any], key: str, where: str = "") -> list[Mapping[str, Any]]:
    """container[key]: a list of objects; absent or null is empty (Terraform's omitempty)."""
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}{key} is {type(value).__name__}, not a list")
    return [_obj(item, f"{where}{key}[{i}]") for i, item in enumerate(value)]


def _str(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"{where} is {type(value).__name__}, not a string")
    return str(value)


def _flag(plan: Mapping[str, Any], key: str) -> bool | None:
    value = plan.get(key)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{key} is {type(value).__name__}, not true or false")
    return value


def _actions(change: Mapping[str, Any], where: str) -> list[str]:
    actions = change.get("actions") or []
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise ValueError(f"{where}.actions is not a list of strings")
    return actions


def _change(rc: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    return _obj(rc.get("change") or {}, f"{where}.change")


# ---------------------------------------------------------------- the summary


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
    drift: int = 0  # resources changed outside of Terraform, as Terraform shows them
    actions: int = 0  # action invocations (Terraform >= 1.14)
    deferred: int = 0  # changes Terraform deferred to a later plan

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

    def terraform_line(self) -> tuple[int, int, int, int]:
        """(import, add, change, destroy) as Terraform's "Plan:" line counts them: a
        replacement is one add and one destroy there."""
        return (self.import_, self.add + self.replace, self.change, self.destroy + self.replace)


@dataclass(frozen=True)
class ResourceRow:
    address: str
    type: str
    action: str  # create|update|delete|replace|create+forget|read|forget|no-op
    importing: bool = False
    previous_address: str | None = None
    critical: str | None = None  # CRITICAL_TYPES reason when destroyed or replaced
    reason: str | None = None  # Terraform's action_reason, e.g. replace_by_triggers

    @property
    def label(self) -> str:
        parts = []
        if self.importing:
            parts.append("import")
        if self.previous_address:
            parts.append("move")
        if self.action != "no-op" or not parts:
            parts.append({"delete": "destroy", "create+forget": "replace, keeping the old "
                          "object"}.get(self.action, self.action))
        return " + ".join(parts)

    @property
    def destroys(self) -> bool:
        return self.action in ("delete", "replace")

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "type": self.type, "action": self.action,
                "importing": self.importing, "previous_address": self.previous_address,
                "critical": self.critical, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceRow:
        prev, crit, reason = data.get("previous_address"), data.get("critical"), data.get("reason")
        return cls(address=str(data["address"]), type=str(data.get("type", "")),
                   action=str(data["action"]), importing=bool(data.get("importing", False)),
                   previous_address=None if prev is None else str(prev),
                   critical=None if crit is None else str(crit),
                   reason=None if reason is None else str(reason))


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
    action: str  # update|delete (deleted outside of Terraform)|move (refresh-only)

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "type": self.type, "action": self.action}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftRow:
        return cls(str(data["address"]), str(data.get("type", "")), str(data["action"]))


@dataclass(frozen=True)
class ActionRow:
    """An action invocation: `address` (action.TYPE.NAME) and what triggers it: "invoke"
    (`terraform plan -invoke`) or "<event> of <resource>" (a lifecycle action_trigger)."""

    address: str
    type: str
    trigger: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "type": self.type, "trigger": self.trigger}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionRow:
        return cls(str(data["address"]), str(data.get("type", "")), str(data["trigger"]))


@dataclass(frozen=True)
class DeferredRow:
    """A change Terraform could not plan yet: it needs another plan after this one applies."""

    address: str
    action: str
    reason: str  # jsonplan's DeferredReason*, e.g. instance_count_unknown

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "action": self.action, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeferredRow:
        return cls(str(data["address"]), str(data["action"]), str(data.get("reason", "")))


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
    mode: str = "normal"  # MODES: how the plan was made
    applyable: bool | None = None  # Terraform's `applyable`; None: not in the plan JSON
    complete: bool | None = None  # Terraform's `complete`; None: not in the plan JSON
    actions: tuple[ActionRow, ...] = ()
    deferred: tuple[DeferredRow, ...] = ()
    # What the apply would do (core.fingerprint), for the stale-plan guard; "" when failed.
    fingerprint: str = ""
    # change (address or output.<name>) -> short digest; empty when failed
    fingerprint_items: Mapping[str, str] = field(default_factory=dict)
    commit: str = ""  # the commit the plan was made at (the PR head), "" when unknown

    @property
    def has_changes(self) -> bool:
        """Applying it would do something: change resources or outputs, invoke actions, or
        (refresh-only) record what changed outside of Terraform in the state."""
        c = self.counts
        return (c.resource_changes > 0 or c.outputs > 0 or c.actions > 0
                or (self.mode == "refresh-only" and c.drift > 0))

    @property
    def incomplete(self) -> bool:
        """Terraform says another plan is needed after this one (`complete: false`):
        deferred changes, or a plan limited with -target."""
        return self.status == "ok" and self.complete is False

    @property
    def not_applyable(self) -> bool:
        """Terraform says it cannot be applied although it lists changes. (A plan without
        changes is never applyable: that is just "no changes".)"""
        return self.status == "ok" and self.applyable is False and self.has_changes

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
            "mode": self.mode,
            "applyable": self.applyable,
            "complete": self.complete,
            "counts": self.counts.to_dict(),
            "resources": [r.to_dict() for r in self.resources],
            "outputs": [o.to_dict() for o in self.outputs],
            "drift": [d.to_dict() for d in self.drift],
            "actions": [a.to_dict() for a in self.actions],
            "deferred": [d.to_dict() for d in self.deferred],
            "cost": [c.to_dict() for c in self.cost],
            "prices_as_of": self.prices_as_of,
            "error": self.error,
            "fingerprint": self.fingerprint,
            "fingerprint_items": dict(sorted(self.fingerprint_items.items())),
            "commit": self.commit,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PlanSummary:
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
        mode = data.get("mode", "normal")
        if mode not in MODES:
            raise ValueError(f"summary.json mode {mode!r} is not one of {', '.join(MODES)}")
        try:
            env = _check_env(str(data["env"]))
            as_of = data.get("prices_as_of")

            def rows(key: str) -> list[Mapping[str, Any]]:
                return _objects(data, key, "summary.json ")

            return cls(
                env=env,
                status="ok" if status == "ok" else "failed",
                plan_hash=str(data.get("plan_hash") or ""),
                terraform_version=str(data.get("terraform_version") or ""),
                mode=str(mode),
                applyable=_flag(data, "applyable"),
                complete=_flag(data, "complete"),
                counts=Counts.from_dict(_obj(data.get("counts") or {}, "counts")),
                resources=tuple(ResourceRow.from_dict(r) for r in rows("resources")),
                outputs=tuple(OutputRow.from_dict(o) for o in rows("outputs")),
                drift=tuple(DriftRow.from_dict(d) for d in rows("drift")),
                actions=tuple(ActionRow.from_dict(a) for a in rows("actions")),
                deferred=tuple(DeferredRow.from_dict(d) for d in rows("deferred")),
                cost=tuple(cost.CostLine.from_dict(c) for c in rows("cost")),
                prices_as_of=None if as_of is None else str(as_of),
                error=str(data.get("error") or ""),
                fingerprint=str(data.get("fingerprint") or ""),
                fingerprint_items={str(k): str(v) for k, v in
                                   (data.get("fingerprint_items") or {}).items()},
                commit=str(data.get("commit") or ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
            raise ValueError(f"summary.json is malformed: {err!r}") from err


def plan_hash(plan: Mapping[str, Any]) -> str:
    """sha256 of the canonical bytes of plan.json: keys sorted, no whitespace, UTF-8.

    Canonical, so re-serialising the same plan (pretty-printed, reordered) keeps the hash.
    """
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()


# ---------------------------------------------------------------- values (outputs)

# Stands in for an unknown value while rendering; a per-process token no real value has.
_UNKNOWN = f"\x00unknown-{os.urandom(16).hex()}\x00"


def with_unknowns(value: Any, unknown: Any) -> Any:
    """`after` with the parts `after_unknown` marks (true, or nested objects/lists of
    true) put back: Terraform omits unknown keys from `after` and writes null for unknown
    list elements, so without this they would show as missing or null."""
    if unknown is True:
        return _UNKNOWN
    if isinstance(unknown, Mapping):
        merged = dict(value) if isinstance(value, Mapping) else {}
        for key, sub in unknown.items():
            merged[key] = with_unknowns(merged.get(key), sub)
        return merged
    if isinstance(unknown, list):
        items = list(value) if isinstance(value, list) else []
        items += [None] * (len(unknown) - len(items))
        return [with_unknowns(item, unknown[i]) if i < len(unknown) else item
                for i, item in enumerate(items)]
    return value


def _render_value(value: Any) -> str:
    if value == _UNKNOWN:
        text = UNKNOWN_TEXT
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        text = text.replace(json.dumps(_UNKNOWN), UNKNOWN_TEXT)
    text = text.replace("\n", "\\n")
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _output_rows(plan: Mapping[str, Any], masker: Masker) -> list[OutputRow]:
    changes = _obj(plan.get("output_changes") or {}, "output_changes")
    rows = []
    for name, raw in sorted(changes.items()):
        oc = _obj(raw, f"output_changes.{name}")
        actions = _actions(oc, f"output_changes.{name}")
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
    value = oc.get(key)
    if key == "after":
        value = with_unknowns(value, oc.get("after_unknown"))
    # Sensitive before unknown, as Terraform checks them (differ: checkForSensitive first).
    value = redact_value(value, oc.get(f"{key}_sensitive"))
    if value == MASK:
        return MASK
    return masker.mask(_render_value(value))


# ---------------------------------------------------------------- resources


def _action(actions: Sequence[str]) -> str:
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if sorted(actions) == ["create", "forget"]:
        return "create+forget"
    if len(actions) == 1:
        return actions[0]
    return "+".join(actions) or "no-op"


def _moved(rc: Mapping[str, Any]) -> bool:
    prev = rc.get("previous_address")
    return bool(prev) and prev != rc.get("address")


def _row(rc: Mapping[str, Any], where: str, masker: Masker) -> ResourceRow | None:
    change = _change(rc, where)
    action = _action(_actions(change, where))
    importing = change.get("importing") is not None
    moved = _moved(rc)
    if action == "no-op" and not importing and not moved:
        return None  # renderHuman: "Don't show anything for NoOp changes"
    if action == "delete" and rc.get("mode") == "data":
        return None  # renderHuman: "Don't render anything for deleted data sources"
    address = _str(rc.get("address"), f"{where}.address")
    if rc.get("deposed"):
        address += f" (deposed {_str(rc['deposed'], f'{where}.deposed')})"
    rtype = _str(rc.get("type"), f"{where}.type")
    critical = CRITICAL_TYPES.get(rtype) if action in ("delete", "replace") else None
    reason = rc.get("action_reason")
    return ResourceRow(
        address=masker.mask(address), type=rtype, action=action, importing=importing,
        previous_address=masker.mask(_str(rc.get("previous_address"), where)) if moved else None,
        critical=critical, reason=_str(reason, f"{where}.action_reason") or None,
    )


def _count(rows: Sequence[ResourceRow], outputs: int, drift: int, actions: int,
           deferred: int) -> Counts:
    n: dict[str, int] = {"create": 0, "update": 0, "delete": 0, "replace": 0, "read": 0,
                         "forget": 0}
    imports = moves = 0
    for row in rows:
        if row.action == "create+forget":
            n["create"] += 1
            n["forget"] += 1
        elif row.action in n:
            n[row.action] += 1
        imports += row.importing
        moves += row.previous_address is not None
    return Counts(add=n["create"], change=n["update"], destroy=n["delete"],
                  replace=n["replace"], import_=imports, move=moves, read=n["read"],
                  forget=n["forget"], outputs=outputs, drift=drift, actions=actions,
                  deferred=deferred)


# ---------------------------------------------------------------- drift


def infer_mode(plan: Mapping[str, Any]) -> str:
    """The plan's mode, which its JSON does not record. Terraform guarantees a refresh-only
    plan has no resource changes ("Invalid refresh-only plan" otherwise) and is applyable
    when the refresh changed the state; a normal plan with no resource changes is only
    applyable when outputs change, and shows no drift either way (its drift has no
    relevant attributes). A destroy plan renders drift like a normal one."""
    if (not plan.get("resource_changes") and plan.get("resource_drift")
            and plan.get("applyable") is True):
        return "refresh-only"
    return "normal"


def _step_matches(step: Any, key: str | int) -> bool:
    """attribute_path's GetChildWithKey / GetChildWithIndex: a string names a key; a number,
    or a string holding one, names an index."""
    if isinstance(key, str):
        return isinstance(step, str) and step == key
    if isinstance(step, bool) or not isinstance(step, int | float | str):
        return False
    try:
        return int(float(step)) == key
    except (ValueError, OverflowError):
        return False


def _relevant_change(before: Any, after: Any, paths: list[tuple[Any, ...]]) -> bool:
    """Whether `before` -> `after` changes anything the attribute paths reach: Terraform's
    differ with a relevant-attributes matcher (propagating: a path that ends here makes
    everything below relevant; what no path reaches is treated as unchanged)."""
    if not paths:
        return False
    if any(len(p) == 0 for p in paths):
        return bool(before != after)
    if (before is None) != (after is None):
        return True  # GetDefaultActionForIteration: a value appearing or going away
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in set(before) | set(after):
            sub = [p[1:] for p in paths if _step_matches(p[0], key)]
            if sub and _relevant_change(before.get(key), after.get(key), sub):
                return True
        return False
    if isinstance(before, list) and isinstance(after, list):
        if not all(not isinstance(p[0], str) or p[0].lstrip("-").isdigit() for p in paths):
            return bool(before != after)  # reached by a key path: every element relevant
        for i in range(max(len(before), len(after))):
            sub = [p[1:] for p in paths if _step_matches(p[0], i)]
            b = before[i] if i < len(before) else None
            a = after[i] if i < len(after) else None
            if sub and _relevant_change(b, a, sub):
                return True
        return False
    return bool(before != after)


def _relevant_paths(plan: Mapping[str, Any], address: str) -> list[tuple[Any, ...]]:
    paths = []
    for i, ra in enumerate(_objects(plan, "relevant_attributes")):
        resource = _str(ra.get("resource"), f"relevant_attributes[{i}].resource")
        attribute = ra.get("attribute") or []
        if not isinstance(attribute, list):
            raise ValueError(f"relevant_attributes[{i}].attribute is not a list")
        if not resource or resource == address:
            paths.append(tuple(attribute))
    return paths


def _plan_is_empty(plan: Mapping[str, Any]) -> bool:
    """diffs.Empty(): no resource change other than no-op (a forget alone renders as no-op)
    or a move, and no output change."""
    for i, rc in enumerate(_objects(plan, "resource_changes")):
        actions = _actions(_change(rc, f"resource_changes[{i}]"), f"resource_changes[{i}]")
        if actions not in (["no-op"], ["forget"], []) or _moved(rc):
            return False
    changes = _obj(plan.get("output_changes") or {}, "output_changes")
    return all(_actions(_obj(oc, f"output_changes.{n}"), n) in (["no-op"], [])
               for n, oc in changes.items())


def _drift_rows(plan: Mapping[str, Any], mode: str, masker: Masker) -> list[DriftRow]:
    entries = _objects(plan, "resource_drift")
    if mode != "refresh-only" and (not entries or _plan_is_empty(plan)):
        return []  # renderHumanDiffDrift: nothing to show beside an empty plan
    rows = []
    for i, rc in enumerate(entries):
        where = f"resource_drift[{i}]"
        change = _change(rc, where)
        actions = _actions(change, where)
        address = _str(rc.get("address"), f"{where}.address")
        if mode == "refresh-only":
            shown = actions not in (["no-op"], []) or _moved(rc)
        else:
            shown = _relevant_change(change.get("before"), change.get("after"),
                                     _relevant_paths(plan, address))
        if not shown:
            continue
        action = ("delete" if "delete" in actions else "move" if actions in (["no-op"], [])
                  else "+".join(actions))
        rows.append(DriftRow(masker.mask(address), _str(rc.get("type"), f"{where}.type"),
                             action))
    return rows


# ---------------------------------------------------------------- actions, deferred


def _action_rows(plan: Mapping[str, Any], masker: Masker) -> list[ActionRow]:
    rows = []
    for i, ai in enumerate(_objects(plan, "action_invocations")):
        where = f"action_invocations[{i}]"
        lifecycle = ai.get("lifecycle_action_trigger")
        if isinstance(lifecycle, Mapping):
            event = _str(lifecycle.get("action_trigger_event"), f"{where}.event") or "trigger"
            resource = _str(lifecycle.get("triggering_resource_address"), where)
            trigger = f"{event} of {resource}" if resource else event
        else:
            trigger = "invoke"
        rows.append(ActionRow(masker.mask(_str(ai.get("address"), f"{where}.address")),
                              _str(ai.get("type"), f"{where}.type"), masker.mask(trigger)))
    return rows


def _deferred_rows(plan: Mapping[str, Any], masker: Masker) -> list[DeferredRow]:
    rows = []
    for i, dc in enumerate(_objects(plan, "deferred_changes")):
        where = f"deferred_changes[{i}]"
        rc = _obj(dc.get("resource_change") or {}, f"{where}.resource_change")
        action = _action(_actions(_change(rc, where), where))
        rows.append(DeferredRow(masker.mask(_str(rc.get("address"), f"{where}.address")),
                                action, _str(dc.get("reason"), f"{where}.reason")))
    for i, da in enumerate(_objects(plan, "deferred_action_invocations")):
        where = f"deferred_action_invocations[{i}]"
        ai = _obj(da.get("action_invocation") or {}, f"{where}.action_invocation")
        rows.append(DeferredRow(masker.mask(_str(ai.get("address"), f"{where}.address")),
                                "invoke", _str(da.get("reason"), f"{where}.reason")))
    return rows


# ---------------------------------------------------------------- summarize


def summarize(plan: Any, env: str, *, masker: Masker | None = None,
              prices: cost.PriceTable | None = None, mode: str | None = None,
              commit: str = "") -> PlanSummary:
    """Summarise a `terraform show -json` plan (format_version 1.x) for one environment,
    made at `commit` (recorded for the apply step's stale-plan guard). `mode` is how the
    plan was made (MODES); None infers it (infer_mode)."""
    _check_env(env)
    masker = masker or Masker()
    if not isinstance(plan, Mapping):
        raise ValueError(f"plan JSON is {type(plan).__name__}, not an object "
                         "(expected the output of `terraform show -json PLANFILE`)")
    fmt = plan.get("format_version")
    if not isinstance(fmt, str) or not fmt.startswith("1."):
        raise ValueError(f"plan JSON format_version {fmt!r} is not 1.x "
                         "(expected the output of `terraform show -json PLANFILE`)")
    if mode is None:
        mode = infer_mode(plan)
    elif mode not in MODES:
        raise ValueError(f"plan mode {mode!r} is not one of {', '.join(MODES)}")
    try:
        resource_changes = _objects(plan, "resource_changes")
        rows = [row for i, rc in enumerate(resource_changes)
                if (row := _row(rc, f"resource_changes[{i}]", masker)) is not None]
        outputs = _output_rows(plan, masker)
        drift = _drift_rows(plan, mode, masker)
        actions = _action_rows(plan, masker)
        deferred = _deferred_rows(plan, masker)
        errored = bool(_flag(plan, "errored"))
        costs = tuple(cost.cost_lines(resource_changes, prices))
        printed = None if errored else fp.fingerprint(plan, env)
    except (TypeError, AttributeError, KeyError, RecursionError) as err:
        # The checks above name the usual shape errors; this names the rest, still as input.
        raise ValueError(f"plan JSON is not what `terraform show -json` writes: {err!r}") \
            from err
    return PlanSummary(
        env=env,
        status="failed" if errored else "ok",
        plan_hash=plan_hash(plan),
        terraform_version=_str(plan.get("terraform_version"), "terraform_version"),
        counts=_count(rows, len(outputs), len(drift), len(actions), len(deferred)),
        resources=tuple(rows),
        outputs=tuple(outputs),
        drift=tuple(drift),
        cost=costs,
        prices_as_of=prices.as_of if prices is not None else None,
        error="terraform marked this plan as errored (incomplete)" if errored else "",
        mode=mode,
        applyable=_flag(plan, "applyable"),
        complete=_flag(plan, "complete"),
        actions=tuple(actions),
        deferred=tuple(deferred),
        fingerprint=printed.digest if printed else "",
        fingerprint_items=dict(printed.items) if printed else {},
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
