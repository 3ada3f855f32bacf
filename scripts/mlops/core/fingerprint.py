"""The plan fingerprint: a canonical digest of what an apply of a plan would do. Pure.

The stale-plan guard compares the fingerprint of the plan reviewers saw on the PR with
the fingerprint of the plan made at the merge commit, and applies only when they are
equal. A hash of the whole plan.json cannot serve: it covers Terraform's timestamp, its
version, the prior state (serial, lineage, every refreshed attribute), so two plans of
the same change never match. dflook/terraform-github-actions' users hit exactly such
false "plan has changed" alarms (issues 254, 399, 404).

What the fingerprint covers, from `terraform show -json PLANFILE` (format 1.x):
- the env;
- per resource change whose actions are not ["no-op"] (plus no-op imports and moves):
  the address, `deposed` or not, the actions in order (create-before-destroy and
  destroy-before-create differ), the import id and previous address, and the values:
    create, read  -> every `after` value;
    update, replace -> each attribute path whose value differs between before and after,
                     with both values;
    delete, forget -> the `id` of the object being removed;
  unknown values (`after_unknown`) are the marker {"unknown": true}; sensitive values
  (`before_sensitive` / `after_sensitive`) are replaced by the sha256 of their canonical
  JSON: hashed rather than dropped, so changing a secret changes the fingerprint without
  the fingerprint (or anything derived from it) showing the secret;
- per output change that is not a no-op: the name, the actions and the changed values,
  the same way;
- whether Terraform marked the plan as errored.
What it excludes: the timestamp, Terraform's version, state serial and lineage,
`prior_state`, `resource_drift` (drift that changes what apply does shows up in the
resource changes), unchanged attributes of updated resources, variables (their effect is
in the changes), checks and relevant_attributes.

Next to the fingerprint, `items` maps each change (resource address, or `output.<name>`)
to a short digest of its entry, so a mismatch can say which changes were added, removed
or changed relative to the reviewed plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
UNKNOWN: Mapping[str, bool] = {"unknown": True}
ITEM_DIGEST_CHARS = 12
MAX_ITEMS = 300  # beyond this the comment header records only the fingerprint


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(value: Any) -> str:
    return hashlib.sha256(_canonical_json(value).encode("utf-8")).hexdigest()


def _mark(value: Any, unknown: Any, sensitive: Any) -> Any:
    """`value` with unknown leaves marked and sensitive subtrees replaced by their hash.
    `unknown` and `sensitive` mirror the value's structure (Terraform's after_unknown and
    *_sensitive), with `true` where the flag applies to everything below."""
    if unknown is True:
        return dict(UNKNOWN)
    if sensitive is True:
        return {"sensitive": "sha256:" + _digest(value)}
    if isinstance(value, Mapping) or isinstance(unknown, Mapping):
        value_map = value if isinstance(value, Mapping) else {}
        unknown_map = unknown if isinstance(unknown, Mapping) else {}
        sensitive_map = sensitive if isinstance(sensitive, Mapping) else {}
        keys = set(value_map) | {k for k, v in unknown_map.items() if v}
        return {k: _mark(value_map.get(k), unknown_map.get(k), sensitive_map.get(k))
                for k in sorted(keys)}
    if isinstance(value, list) or isinstance(unknown, list):
        items = value if isinstance(value, list) else []
        unknown_list = unknown if isinstance(unknown, list) else []
        sensitive_list = sensitive if isinstance(sensitive, list) else []
        length = max(len(items), len(unknown_list))
        return [_mark(items[i] if i < len(items) else None,
                      unknown_list[i] if i < len(unknown_list) else None,
                      sensitive_list[i] if i < len(sensitive_list) else None)
                for i in range(length)]
    return value


def _is_marker(value: Any) -> bool:
    return isinstance(value, Mapping) and (value == UNKNOWN or (
        len(value) == 1 and str(value.get("sensitive", "")).startswith("sha256:")))


def _changed(before: Any, after: Any, path: tuple[Any, ...] = ()) -> Iterator[list[Any]]:
    """[path, before, after] for each leaf that differs. Lists of different lengths, and
    a marker (unknown, hashed sensitive value) against anything, differ as a whole."""
    if before == after:
        return
    if (isinstance(before, Mapping) and isinstance(after, Mapping)
            and not _is_marker(before) and not _is_marker(after)):
        for key in sorted(set(before) | set(after)):
            yield from _changed(before.get(key), after.get(key), (*path, key))
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from _changed(b, a, (*path, i))
    else:
        yield [list(path), before, after]


def _values(change: Mapping[str, Any], actions: list[str]) -> Any:
    before = _mark(change.get("before"), None, change.get("before_sensitive"))
    after = _mark(change.get("after"), change.get("after_unknown"), change.get("after_sensitive"))
    if actions in (["create"], ["read"]):
        return {"after": after}
    if "create" in actions or "update" in actions:  # update, or a replacement
        return {"changed": list(_changed(before, after))}
    if actions in (["delete"], ["forget"]):
        ident = change.get("before", {}).get("id") if isinstance(change.get("before"),
                                                                  Mapping) else None
        sensitive_id = isinstance(change.get("before_sensitive"), Mapping) and \
            change["before_sensitive"].get("id") is True
        return {"id": {"sensitive": "sha256:" + _digest(ident)} if sensitive_id else ident}
    return {"changed": list(_changed(before, after))}


def _resource_entries(plan: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for rc in plan.get("resource_changes") or []:
        if not isinstance(rc, Mapping):
            continue
        change = rc.get("change") or {}
        actions = [str(a) for a in change.get("actions") or []]
        importing = change.get("importing")
        previous = rc.get("previous_address")
        if actions in (["no-op"], []) and not importing and not previous:
            continue
        address = str(rc.get("address", ""))
        deposed = bool(rc.get("deposed"))
        entry: dict[str, Any] = {"address": address, "deposed": deposed, "actions": actions}
        if importing:
            entry["import"] = importing.get("id") if isinstance(importing, Mapping) else True
        if previous:
            entry["moved_from"] = str(previous)
        if actions not in (["no-op"], []):
            entry["values"] = _values(change, actions)
        yield (address + (" (deposed)" if deposed else "")), entry


def _output_entries(plan: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, oc in sorted((plan.get("output_changes") or {}).items()):
        if not isinstance(oc, Mapping):
            continue
        actions = [str(a) for a in oc.get("actions") or []]
        if actions in (["no-op"], []):
            continue
        before = _mark(oc.get("before"), None, oc.get("before_sensitive"))
        after = _mark(oc.get("after"), oc.get("after_unknown"), oc.get("after_sensitive"))
        yield f"output.{name}", {"output": str(name), "actions": actions,
                                 "changed": list(_changed(before, after))}


@dataclass(frozen=True)
class Fingerprint:
    digest: str  # sha256 hex of the canonical document
    items: Mapping[str, str] = field(default_factory=dict)  # change -> short digest

    @property
    def short(self) -> str:
        return self.digest[:12]


def canonical(plan: Mapping[str, Any], env: str) -> dict[str, Any]:
    """The canonical document the fingerprint is the digest of (for tests and debugging)."""
    resources = sorted(_resource_entries(plan), key=lambda kv: kv[0])
    outputs = list(_output_entries(plan))
    return {"v": VERSION, "env": env, "errored": bool(plan.get("errored")),
            "resources": [entry for _, entry in resources],
            "outputs": [entry for _, entry in outputs]}


def fingerprint(plan: Mapping[str, Any], env: str) -> Fingerprint:
    """The fingerprint of a `terraform show -json` plan for `env`."""
    fmt = str(plan.get("format_version", ""))
    if not fmt.startswith("1."):
        raise ValueError(f"plan JSON format_version {fmt!r} is not 1.x")
    items = {key: _digest(entry)[:ITEM_DIGEST_CHARS]
             for key, entry in [*_resource_entries(plan), *_output_entries(plan)]}
    return Fingerprint(_digest(canonical(plan, env)), items)


@dataclass(frozen=True)
class ItemDiff:
    """What differs between the reviewed plan and the new one, change by change."""

    added: tuple[str, ...] = ()  # in the new plan only
    removed: tuple[str, ...] = ()  # in the reviewed plan only
    changed: tuple[str, ...] = ()  # in both, doing something different
    known: bool = True  # False: the reviewed plan's items were not recorded

    @property
    def empty(self) -> bool:
        return self.known and not (self.added or self.removed or self.changed)

    def lines(self, limit: int = 20) -> list[str]:
        if not self.known:
            return ["the reviewed plan recorded no per-change digests (too many changes, or "
                    "an older comment): compare the two plans in full"]
        out: list[str] = []
        for label, names in (("added since review", self.added),
                             ("no longer in the plan", self.removed),
                             ("changed since review", self.changed)):
            for name in names[:limit]:
                out.append(f"{label}: {name}")
            if len(names) > limit:
                out.append(f"{label}: … and {len(names) - limit} more")
        return out


def compare(reviewed: Mapping[str, str] | None, new: Mapping[str, str]) -> ItemDiff:
    if reviewed is None:
        return ItemDiff(known=False)
    return ItemDiff(
        added=tuple(sorted(set(new) - set(reviewed))),
        removed=tuple(sorted(set(reviewed) - set(new))),
        changed=tuple(sorted(k for k in set(new) & set(reviewed) if new[k] != reviewed[k])))
