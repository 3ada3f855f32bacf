"""Redaction of secrets in anything mlops shows or logs. Pure.

Two sources of secrets:
- values Terraform marks sensitive in the plan JSON (`before_sensitive`, `after_sensitive`,
  `sensitive_values`, sensitive outputs and variables). Terraform's text plan prints
  `(sensitive value)` for most of them, but not for values derived from them through
  attributes the provider does not mark (e.g. `terraform_data.output`), so we also
  redact the literal strings wherever they appear;
- user-configured regexes (`mask_patterns` in mlops.yaml), for secrets Terraform does not
  know about: a token in a tag value, an environment variable of a SageMaker model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops.errors import MlopsError

MASK = "***"
# A sensitive literal shorter than this is not searched for in free text: redacting every
# "1" or "true" in a text plan would destroy it. Structured values are masked regardless.
MIN_LITERAL = 4


def compile_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Compile `mask_patterns`; a bad regex is a configuration error, named precisely."""
    compiled: list[re.Pattern[str]] = []
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            raise MlopsError(
                f"mask_patterns[{i}] in mlops.yaml is {pattern!r}, not a regular expression",
                "mask_patterns is a list of non-empty regex strings",
                "quote each pattern as a YAML string, e.g. - 'ghp_[A-Za-z0-9]{36}'",
            )
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise MlopsError(
                f"mask_patterns[{i}] in mlops.yaml: mask pattern {pattern!r} is not a valid "
                "regular expression",
                str(err),
                "fix the pattern (Python `re` syntax); test it with python -c 'import re; ...'",
            ) from err
        if compiled[-1].search("") is not None:
            raise MlopsError(
                f"mask_patterns[{i}] in mlops.yaml matches the empty string: {pattern!r}",
                "such a pattern would mask between every character",
                "make the pattern require at least one character (use + rather than *)",
            )
    return tuple(compiled)


@dataclass(frozen=True)
class Masker:
    """Replaces secrets with `***`. With capture groups, only the groups are replaced, so
    `token=(\\S+)` keeps `token=` visible."""

    patterns: tuple[re.Pattern[str], ...] = ()
    literals: frozenset[str] = frozenset()

    def with_literals(self, literals: Iterable[str]) -> Masker:
        return Masker(self.patterns, self.literals | frozenset(literals))

    def mask(self, text: str) -> str:
        if not text:
            return text
        # Longest first, so a secret containing a shorter one is replaced whole.
        for literal in sorted(self.literals, key=len, reverse=True):
            if len(literal) >= MIN_LITERAL and literal in text:
                text = text.replace(literal, MASK)
        for pattern in self.patterns:
            text = pattern.sub(_replacer, text)
        return text


def mask_leaves(value: Any, masker: Masker) -> Any:
    """A copy of `value` (parsed JSON: a Terraform output, say) with every string in it,
    keys included, masked by `masker`."""
    if isinstance(value, str):
        return masker.mask(value)
    if isinstance(value, Mapping):
        return {masker.mask(str(k)): mask_leaves(v, masker) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_leaves(v, masker) for v in value]
    return value


def _replacer(match: re.Match[str]) -> str:
    if match.re.groups == 0:
        return MASK
    whole = match.group(0)
    start0 = match.start(0)
    out: list[str] = []
    pos = 0
    for g in range(1, match.re.groups + 1):
        start, end = match.span(g)
        if start < 0 or start - start0 < pos:  # group did not take part, or nested
            continue
        out.append(whole[pos : start - start0])
        out.append(MASK)
        pos = end - start0
    out.append(whole[pos:])
    return "".join(out)


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)


def _sensitive_leaves(value: Any, marks: Any) -> Iterator[str]:
    """Strings in `value` marked sensitive by the parallel `marks` structure."""
    if marks is True:
        yield from _leaves(value)
    elif isinstance(marks, Mapping) and isinstance(value, Mapping):
        for key, sub in marks.items():
            if key in value:
                yield from _sensitive_leaves(value[key], sub)
    elif isinstance(marks, list) and isinstance(value, list):
        for v, m in zip(value, marks, strict=False):
            yield from _sensitive_leaves(v, m)


def redact_value(value: Any, marks: Any) -> Any:
    """A copy of `value` with every part marked sensitive by `marks` replaced by MASK."""
    if marks is True:
        return MASK
    if isinstance(marks, Mapping) and isinstance(value, Mapping):
        return {k: redact_value(v, marks.get(k, False)) for k, v in value.items()}
    if isinstance(marks, list) and isinstance(value, list):
        return [redact_value(v, marks[i] if i < len(marks) else False)
                for i, v in enumerate(value)]
    return value


def _module_resources(module: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if not isinstance(module, Mapping) or depth > 100:
        return
    for res in _list(module.get("resources")):
        if isinstance(res, Mapping):
            yield res
    for child in _list(module.get("child_modules")):
        yield from _module_resources(child, depth + 1)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sensitive_strings(plan: Any) -> frozenset[str]:
    """Every string value the plan JSON marks sensitive, wherever it is marked. Any JSON is
    accepted (a plan directory is input): what is not shaped like a plan marks nothing."""
    plan = _map(plan)
    found: set[str] = set()
    changes = [_map(rc).get("change") for key in ("resource_changes", "resource_drift")
               for rc in _list(plan.get(key))]
    changes += [_map(dc).get("resource_change", {}).get("change")
                if isinstance(_map(dc).get("resource_change"), Mapping) else None
                for dc in _list(plan.get("deferred_changes"))]
    changes += list(_map(plan.get("output_changes")).values())
    for change in changes:
        change = _map(change)
        found.update(_sensitive_leaves(change.get("before"), change.get("before_sensitive")))
        found.update(_sensitive_leaves(change.get("after"), change.get("after_sensitive")))
    for ai in _list(plan.get("action_invocations")):
        ai = _map(ai)
        found.update(_sensitive_leaves(ai.get("config_values"), ai.get("config_sensitive")))
    for values_key in ("planned_values", "prior_state"):
        container = _map(plan.get(values_key))
        if values_key == "prior_state":
            container = _map(container.get("values"))
        for out in _map(container.get("outputs")).values():
            if isinstance(out, Mapping) and out.get("sensitive"):
                found.update(_leaves(out.get("value")))
        for res in _module_resources(container.get("root_module")):
            found.update(_sensitive_leaves(res.get("values"), res.get("sensitive_values")))
    config_vars = _map(_map(_map(plan.get("configuration")).get("root_module")).get("variables"))
    for name, var in _map(plan.get("variables")).items():
        decl = config_vars.get(name)
        if isinstance(decl, Mapping) and decl.get("sensitive") and isinstance(var, Mapping):
            found.update(_leaves(var.get("value")))
    return frozenset(s for s in found if s and s != MASK)
