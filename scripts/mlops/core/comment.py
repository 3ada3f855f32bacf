"""The sticky PR comment: render plan summaries to markdown, and parse a comment back. Pure.

The comment is a data format:
  line 1  MARKER                                   finds our comment among the PR's comments
  line 2  <!-- mlops:plans {"v":2,"plans":{...}} -->  env -> status, plan fingerprint (what the
                                                     apply would do), the commit the plan was
                                                     made at, per-change digests and the plan
                                                     file's hash, for the apply step's
                                                     stale-plan guard (reviewed_plans); version
                                                     1 headers (hash and status only) parse too
The rest is for people: totals, destroy/replace warnings first, then one section per env
in the promotion order the caller passes (`order`; envs it does not name follow,
alphabetically). Envs of the prod tier (`production`) get the production warnings. Then,
when the change touches Kubernetes manifests, a Kubernetes section per env: the unified
diff of the rendered manifests (`mlops k8s diff`, Secret values already redacted), so
Terraform and Kubernetes changes are reviewed in one place.

Size: GitHub rejects comment bodies over 65,536 characters. We count UTF-8 bytes (never fewer
than characters) and fit the body by shortening, in order: the text plans and manifest diffs
(one shared budget; head and tail are kept), then the tables. The headline, the counts and
the warnings are never cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from mlops.core import cost
from mlops.core import envs as envs_core
from mlops.core import fingerprint as fp
from mlops.core.masking import Masker
from mlops.core.plansummary import Counts, PlanSummary, ResourceRow

MARKER = "<!-- mlops:plan-comment v1 -->"
HEADER_PREFIX = "<!-- mlops:plans "
HEADER_RE = re.compile(r"^<!-- mlops:plans (\{.*\}) -->$", re.MULTILINE)
HEADER_VERSION = 2
HEADER_VERSIONS = (1, 2)  # what parse back accepts
HEADER_BUDGET = 24_000  # bytes; the per-change digests give way first
MAX_BODY = 65536

LABEL_NO_CHANGES = "plan:no-changes"
LABEL_CHANGES = "plan:changes"
LABEL_DESTROY = "plan:destroy"
LABELS: Mapping[str, tuple[str, str]] = {  # name -> (colour, description)
    LABEL_NO_CHANGES: ("0e8a16", "mlops: the Terraform plans change nothing"),
    LABEL_CHANGES: ("fbca04", "mlops: the Terraform plans change infrastructure"),
    LABEL_DESTROY: ("b60205", "mlops: the Terraform plans destroy or replace resources"),
}

MAX_LINE = 500  # a longer text-plan line is clipped (one-line policies can be 100 kB)
MAX_ALERT_ADDRESSES = 20
MAX_COST_LINES = 20
MIN_TEXT_BUDGET = 400  # below this a text plan excerpt is useless: omit it instead

ICONS = {"create": "🟢", "update": "🟡", "delete": "🔴", "replace": "🟠", "read": "🔵",
         "forget": "⚪", "no-op": "⚪"}
_PRIORITY = {"replace": 1, "delete": 1, "create": 2, "update": 3, "forget": 4, "no-op": 5,
             "read": 6}


@dataclass(frozen=True)
class PolicyFinding:
    """One policy-gate violation (from policy.json, written by `mlops policy check`)."""

    rule: str
    address: str
    message: str


@dataclass(frozen=True)
class PlanInput:
    """One environment's plan as the renderer sees it. `text_plan` is `terraform show`.
    `policy` is None when the gate has not run on this plan, else its findings."""

    summary: PlanSummary
    text_plan: str = ""
    policy: tuple[PolicyFinding, ...] | None = None


@dataclass(frozen=True)
class ManifestDiffInput:
    """One env's Kubernetes section: what `mlops k8s diff` wrote (k8s.json). `error` is set
    when rendering failed; `diff` is "" when the rendered manifests do not change."""

    env: str
    diff: str = ""
    added: int = 0
    changed: int = 0
    removed: int = 0
    error: str = ""


def size(body: str) -> int:
    """The size GitHub's limit is checked against, counted conservatively (UTF-8 bytes)."""
    return len(body.encode("utf-8"))


def env_sort_key(env: str, order: Sequence[str]) -> tuple[int, str]:
    """Envs in `order` (the promotion order) first, then any other alphabetically."""
    return (order.index(env) if env in order else len(order), env)


def run_url(server_url: str | None, repository: str | None, run_id: str | None) -> str | None:
    """Link to the workflow run, whose artifacts hold the full plans."""
    if not (server_url and repository and run_id):
        return None
    return f"{server_url.rstrip('/')}/{repository}/actions/runs/{run_id}"


def label_for(summaries: Iterable[PlanSummary]) -> str | None:
    """Our one label for the PR; None when a plan failed (nothing truthful to say)."""
    items = list(summaries)
    if not items or any(s.status == "failed" for s in items):
        return None
    if any(s.destroys for s in items):
        return LABEL_DESTROY
    if any(s.has_changes for s in items):
        return LABEL_CHANGES
    return LABEL_NO_CHANGES


# ---------------------------------------------------------------- header, parse back


def header(summaries: Sequence[PlanSummary]) -> str:
    """The machine-readable line. Per-change digests ("items") are included while the line
    stays under HEADER_BUDGET bytes, dropping the largest envs' first: the guard then
    still has every fingerprint, and says it cannot itemise a difference for those envs."""
    plans: dict[str, dict[str, object]] = {}
    for s in summaries:
        entry: dict[str, object] = {"hash": s.plan_hash, "status": s.status,
                                    "fingerprint": s.fingerprint, "commit": s.commit}
        if s.status == "ok" and len(s.fingerprint_items) <= fp.MAX_ITEMS:
            entry["items"] = dict(sorted(s.fingerprint_items.items()))
        plans[s.env] = entry

    def line() -> str:
        data = json.dumps({"v": HEADER_VERSION, "plans": plans}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=True)
        # "-->" (and "<", for good measure) must never end the HTML comment early:
        # addresses in "items" are free text; JSON unicode escapes keep the header valid.
        return HEADER_PREFIX + data.replace(">", "\\u003e").replace("<", "\\u003c") + " -->"

    text = line()
    by_size = sorted((e for e in plans.values() if "items" in e),
                     key=lambda e: -len(e["items"]))  # type: ignore[arg-type]
    while size(text) > HEADER_BUDGET and by_size:
        del by_size.pop(0)["items"]
        text = line()
    return text


@dataclass(frozen=True)
class ReviewedPlan:
    """One env's plan as the PR's sticky comment recorded it."""

    env: str
    status: str  # "ok" | "failed"
    fingerprint: str  # "" in a version 1 header or for a failed plan
    commit: str  # the commit the plan was made at; "" when unknown
    items: Mapping[str, str] | None  # change -> short digest; None when not recorded
    plan_hash: str = ""
    version: int = HEADER_VERSION


def is_plan_comment(body: str) -> bool:
    """Ours only if the marker is the very first line: a human quoting it starts with '>'."""
    return body.startswith(MARKER)


def _header_data(body: str) -> dict[str, object]:
    if not is_plan_comment(body):
        raise ValueError("not an mlops plan comment (its first line is not the marker)")
    match = HEADER_RE.search(body)
    if match is None:
        raise ValueError("mlops plan comment has no plans header line")
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError as err:
        raise ValueError(f"mlops plan comment header is not JSON: {err}") from err
    if not isinstance(data, dict) or data.get("v") not in HEADER_VERSIONS:
        raise ValueError("mlops plan comment header version is not one of "
                         f"{', '.join(map(str, HEADER_VERSIONS))}")
    if not isinstance(data.get("plans"), dict):
        raise ValueError("mlops plan comment header has no plans object")
    return data


def reviewed_plans(body: str) -> dict[str, ReviewedPlan]:
    """env -> ReviewedPlan from one of our comments (header version 1 or 2)."""
    data = _header_data(body)
    version = int(str(data["v"]))
    plans = data["plans"]
    assert isinstance(plans, dict)
    out: dict[str, ReviewedPlan] = {}
    for env, entry in plans.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("hash"), str)
                and entry.get("status") in ("ok", "failed")
                and isinstance(entry.get("fingerprint", ""), str)
                and isinstance(entry.get("commit", ""), str)
                and isinstance(entry.get("items", {}), dict)):
            raise ValueError(f"mlops plan comment header entry for {env!r} is malformed")
        items = entry.get("items")
        out[str(env)] = ReviewedPlan(
            env=str(env), status=entry["status"], fingerprint=entry.get("fingerprint", ""),
            commit=entry.get("commit", ""),
            items=None if items is None else {str(k): str(v) for k, v in items.items()},
            plan_hash=entry["hash"], version=version)
    return out


def parse_comment_plans(body: str) -> dict[str, dict[str, str]]:
    """env -> {"hash": ..., "status": "ok"|"failed"} from one of our comments."""
    return {env: {"hash": p.plan_hash, "status": p.status}
            for env, p in reviewed_plans(body).items()}


def parse_comment(body: str) -> dict[str, str]:
    """env -> plan hash (sha256 hex) of every env whose plan succeeded."""
    return {env: e["hash"] for env, e in parse_comment_plans(body).items()
            if e["status"] == "ok" and e["hash"]}


# ---------------------------------------------------------------- markdown helpers


def _code(text: str) -> str:
    """Inline code safe inside a table cell."""
    text = text.replace("\n", " ").replace("|", "\\|")
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(text: str, lang: str = "") -> str:
    longest = max((len(r) for r in re.findall(r"`{3,}", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _clip(line: str) -> str:
    if len(line) > MAX_LINE:
        line = line[:MAX_LINE] + f" … ({len(line) - MAX_LINE:,} characters clipped)"
    return line


def _diff_line(line: str) -> str:
    """Move a leading +, - or ~ to column 0 so GitHub's `diff` highlighting colours it."""
    match = re.match(r"^( +)([-+~])(.*)$", line)
    if match:
        line = match.group(2) + match.group(1) + match.group(3)
    return _clip(line)


def _counts_text(c: Counts, *, refresh_drift: int = 0) -> str:
    """What applying does, in Terraform's words; `refresh_drift`: resources a refresh-only
    plan records in the state."""
    parts = [f"{n:,} to {word}" for n, word in (
        (c.import_, "import"), (c.add, "add"), (c.change, "change"), (c.replace, "replace"),
        (c.destroy, "destroy"), (c.move, "move"), (c.forget, "forget")) if n]
    if c.outputs:
        parts.append(_plural(c.outputs, "output change"))
    if c.actions:
        parts.append(f"{_plural(c.actions, 'action')} to invoke")
    if refresh_drift:
        parts.append(f"{_plural(refresh_drift, 'outside change')} to record (refresh-only)")
    if c.read:
        parts.append(_plural(c.read, "data read"))
    text = ", ".join(parts) if parts else ("no current changes" if c.deferred else "no changes")
    if c.deferred:
        text += f", {c.deferred:,} deferred to a later plan"
    return text


def _refresh_drift(s: PlanSummary) -> int:
    return s.counts.drift if s.mode == "refresh-only" and s.status == "ok" else 0


def counts_text(s: PlanSummary) -> str:
    """One plan's counts as the comment words them ("3 to add, 1 output change")."""
    if s.status == "failed":
        return "plan failed"
    return _counts_text(s.counts, refresh_drift=_refresh_drift(s))


# ---------------------------------------------------------------- sections


def _policy_alerts(plans: Sequence[PlanInput], cap: int) -> list[str]:
    """Policy-gate violations: the merge is blocked until they are fixed."""
    out: list[str] = []
    for p in plans:
        if not p.policy:
            continue
        out += ["> [!CAUTION]",
                f"> 🚫 **{p.summary.env}** fails the policy gate: "
                f"{_plural(len(p.policy), 'violation')}."]
        for finding in p.policy[:cap]:
            out.append(f"> - `{finding.rule}` {finding.message}")
        if len(p.policy) > cap:
            out.append(f"> - … and {len(p.policy) - cap:,} more (`policy.json` in the "
                       "run's artifacts)")
        out.append("")
    return out


def _alerts(summaries: Sequence[PlanSummary], cap: int, production: frozenset[str]) -> list[str]:
    """Failed plans and destroys/replacements, worst first. Never cut for size."""
    out: list[str] = []
    for s in summaries:
        if s.status == "failed":
            out += ["> [!CAUTION]", f"> ❌ **{s.env}**: the plan failed, see its section below.",
                    ""]
        if s.not_applyable:
            out += ["> [!CAUTION]",
                    f"> ⛔ **{s.env}**: Terraform marked this plan as not applyable "
                    "(`applyable: false`) although it lists changes: applying it changes "
                    "nothing. Re-run the plan.", ""]
        if s.incomplete:
            cause = (f"{_plural(s.counts.deferred, 'change')} could only be planned later"
                     if s.counts.deferred else "the plan was limited (e.g. with -target)")
            out += ["> [!WARNING]",
                    f"> ⏳ **{s.env}**: this plan is incomplete (`complete: false`): {cause}. "
                    "After applying it, plan and apply again.", ""]
    def severity(s: PlanSummary) -> int:  # prod, then data/serving anywhere, then the rest
        return 0 if s.env in production else 1 if s.critical else 2

    for s in sorted(summaries, key=severity):  # stable: env order within a severity
        destroys = s.destroys
        if s.status != "ok" or not destroys:
            continue
        critical = s.critical
        n_del = sum(r.action == "delete" for r in destroys)
        n_rep = sum(r.action == "replace" for r in destroys)
        what = " and ".join(p for p in (f"destroys {_plural(n_del, 'resource')}" if n_del else "",
                                        f"replaces {_plural(n_rep, 'resource')}" if n_rep else "")
                            if p)
        if critical or s.env in production:
            why = []
            if s.env in production:
                why.append("in **production**")
            data = sum(r.critical == "data" for r in critical)
            serving = sum(r.critical == "serving" for r in critical)
            if data:
                why.append(f"{_plural(data, 'stateful resource')} whose data will be lost")
            if serving:
                why.append(f"{_plural(serving, 'serving endpoint')} that will stop serving")
            out += ["> [!CAUTION]",
                    f"> 🛑 **{s.env}** {what}: " + ", ".join(why)
                    + ". Check this is intended before merging."]
            listed = list(critical) + [r for r in destroys if not r.critical]
        else:
            out += ["> [!WARNING]", f"> ⚠️ **{s.env}** {what}."]
            listed = list(destroys)
        for row in listed[:cap]:
            flag = f" — {'holds data' if row.critical == 'data' else 'serves traffic'}" \
                if row.critical else ""
            out.append(f"> - {row.label} {_code(row.address)}{flag}")
        if len(listed) > cap:
            out.append(f"> - … and {len(listed) - cap:,} more (in the table below)")
        out.append("")
    return out


def _sorted_rows(rows: Iterable[ResourceRow]) -> list[ResourceRow]:
    return sorted(rows, key=lambda r: (r.critical is None, _PRIORITY.get(r.action, 5),
                                       r.address))


def _cut_note(cut: int, what: str, link: str | None) -> str:
    where = f"the [workflow run's artifacts]({link})" if link else "the workflow run's artifacts"
    return (f"_… {cut:,} {what} cut to fit GitHub's comment size limit; the full plan is in "
            f"{where}._")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], limit: int | None,
           what: str, link: str | None) -> list[str]:
    shown = rows if limit is None else rows[:limit]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(r) + " |" for r in shown]
    if len(shown) < len(rows):
        if not shown:
            out = []
        out.append(_cut_note(len(rows) - len(shown), what, link))
    return out


def _text_excerpt(lines: Sequence[str], budget: int | None,
                  source: str = "plan.txt") -> str | None:
    """The text plan, whole or head + tail within `budget` bytes; None to omit it."""
    whole = "\n".join(lines)
    if budget is None or size(whole) <= budget:
        return whole
    if budget < MIN_TEXT_BUDGET:
        return None
    note_room = 200
    head_room = int((budget - note_room) * 0.6)
    tail_room = budget - note_room - head_room
    head: list[str] = []
    used = 0
    for line in lines:
        if used + size(line) + 1 > head_room:
            break
        head.append(line)
        used += size(line) + 1
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head):]):
        if used + size(line) + 1 > tail_room:
            break
        tail.append(line)
        used += size(line) + 1
    tail.reverse()
    cut = len(lines) - len(head) - len(tail)
    note = (f"… {cut:,} of {len(lines):,} lines cut here to fit the comment; the whole text "
            f"is {source} in the workflow run's artifacts …")
    return "\n".join([*head, note, *tail])


def _section(inp: PlanInput, text_lines: Sequence[str], text_budget: int | None,
             row_limit: int | None, link: str | None, masker: Masker,
             production: frozenset[str]) -> list[str]:
    s = inp.summary
    if s.status == "failed":
        out = [f"### {s.env} · ❌ plan failed", ""]
        error = masker.mask(s.error) or "(no error output was captured)"
        out += ["<details open><summary>Error</summary>", "", _fence(error, "text"), "",
                "</details>", ""]
        return out
    if s.destroys:
        badge = "🛑" if s.critical or s.env in production else "⚠️"
    elif s.has_changes:
        badge = "🟡"
    else:
        badge = "✅"
    flags = "".join(f" · {flag}" for flag, on in (("⏳ incomplete", s.incomplete),
                                                   ("⛔ not applyable", s.not_applyable)) if on)
    out = [f"### {s.env} · {badge} {_counts_text(s.counts, refresh_drift=_refresh_drift(s))}"
           f"{flags}", ""]
    meta = f"plan `sha256:{s.plan_hash[:12]}`"
    if s.fingerprint:
        meta += f" · fingerprint `{s.fingerprint[:12]}`"
    if s.commit:
        meta += f" · at `{s.commit[:12]}`"
    if s.mode != "normal":
        meta += f" · {s.mode} plan"
    if s.terraform_version:
        meta += f" · Terraform {s.terraform_version}"
    if inp.policy is not None:
        meta += (f" · policy: {_plural(len(inp.policy), 'violation')}" if inp.policy
                 else " · policy: passed")
    out += [f"<sub>{meta}</sub>", ""]

    if s.cost:
        total = cost.total(s.cost)
        out.append(f"💰 **Cost:** {total.render()}")
        for line in s.cost[:MAX_COST_LINES]:
            out.append(f"- {line.render()} {_code(line.address)}")
        if len(s.cost) > MAX_COST_LINES:
            out.append(f"- … and {len(s.cost) - MAX_COST_LINES:,} more")
        as_of = f" as of {s.prices_as_of}" if s.prices_as_of else ""
        out += [f"<sub>On-demand list prices{as_of}, from the price table in the repository; "
                "≈ per month is 730 hours.</sub>", ""]

    rows = _sorted_rows(s.resources)
    if rows:
        table = _table(["Action", "Resource"],
                       [[f"{ICONS.get(r.action, '⚪')} {r.label}",
                         _code(r.address) + (f" ← {_code(r.previous_address)}"
                                             if r.previous_address else "")]
                        for r in rows],
                       row_limit, "resource rows", link)
        opened = " open" if len(rows) <= 25 else ""
        out += [f"<details{opened}><summary>{_plural(len(rows), 'resource')}</summary>", "",
                *table, "", "</details>", ""]

    if s.outputs:
        table = _table(["Output", "Action", "Before", "After"],
                       [[_code(o.name), o.action,
                         "" if o.before is None else _code(masker.mask(o.before)),
                         "" if o.after is None else _code(masker.mask(o.after))]
                        for o in s.outputs],
                       row_limit, "output rows", link)
        out += [f"**Output changes ({len(s.outputs):,})**", "", *table, ""]

    if s.actions:
        table = _table(["Action invocation", "Trigger"],
                       [[_code(a.address), _code(a.trigger)] for a in s.actions],
                       row_limit, "action rows", link)
        out += [f"**Actions to invoke ({len(s.actions):,})**", "", *table, ""]

    if s.deferred:
        table = _table(["Deferred", "Action", "Why"],
                       [[_code(d.address), d.action, _code(d.reason)] for d in s.deferred],
                       row_limit, "deferred rows", link)
        out += [f"<details><summary>⏳ {_plural(len(s.deferred), 'change')} deferred to a later "
                "plan</summary>", "", *table, "", "</details>", ""]

    if s.drift:
        table = _table(["Changed outside of Terraform", "Action"],
                       [[_code(d.address), d.action] for d in s.drift],
                       row_limit, "drift rows", link)
        if s.mode == "refresh-only":
            what = ("🔎 {} changed outside of Terraform (refresh-only: applying records them in "
                    "the state and changes no infrastructure)")
        else:
            what = ("⚠️ {} changed outside of Terraform in ways this plan's changes depend on "
                    "(Terraform's relevant attributes)")
        out += [f"<details><summary>{what.format(_plural(len(s.drift), 'resource'))}"
                "</summary>", "", *table, "", "</details>", ""]

    if text_lines:
        excerpt = _text_excerpt(text_lines, text_budget)
        if excerpt is None:
            out += [_cut_note(len(text_lines), "lines of the text plan", link).replace(
                "cut to fit", "omitted to fit"), ""]
        else:
            out += [f"<details><summary>Full plan ({_plural(len(text_lines), 'line')})"
                    "</summary>", "", _fence(excerpt, "diff"), "", "</details>", ""]
    return out


def _manifest_section(m: ManifestDiffInput, lines: Sequence[str], budget: int | None,
                      link: str | None, masker: Masker) -> list[str]:
    if m.error:
        return [f"### ☸️ {m.env} · ❌ render failed", "",
                _fence(masker.mask(m.error), "text"), ""]
    if not lines:
        return [f"### ☸️ {m.env} · ✅ rendered manifests unchanged", ""]
    counts = ", ".join(f"{n:,} {word}" for n, word in ((m.changed, "changed"),
                                                        (m.added, "added"),
                                                        (m.removed, "removed")) if n)
    out = [f"### ☸️ {m.env} · 🟡 {counts or 'changed'}", ""]
    excerpt = _text_excerpt(lines, budget, "k8s.json")
    if excerpt is None:
        out += [_cut_note(len(lines), "lines of the manifest diff", link).replace(
            "cut to fit", "omitted to fit").replace("the full plan is", "the full diff is"), ""]
    else:
        out += [f"<details open><summary>Rendered manifest diff ({_plural(len(lines), 'line')}"
                ", `kubectl kustomize` base vs head)</summary>", "", _fence(excerpt, "diff"), "",
                "</details>", ""]
    return out


def _k8s_key(env: str) -> str:
    return f"k8s:{env}"


# ---------------------------------------------------------------- render


@dataclass
class _Layout:
    text_budgets: dict[str, int | None]
    row_limit: int | None
    alert_cap: int


def _assemble(plans: Sequence[PlanInput], texts: Mapping[str, list[str]], layout: _Layout,
              link: str | None, masker: Masker, production: frozenset[str],
              manifests: Sequence[ManifestDiffInput] = ()) -> str:
    summaries = [p.summary for p in plans]
    lines = [MARKER, header(summaries), ""]
    lines += _terraform_part(plans, texts, layout, link, masker, production) if plans else []
    if manifests:
        k8s_envs = " ".join(f"`{m.env}`" for m in manifests)
        failed = [m.env for m in manifests if m.error]
        icon = "⚠️" if failed else "☸️"
        lines += [f"## {icon} Kubernetes manifests · {k8s_envs}", ""]
        if failed:
            lines += ["> [!CAUTION]",
                      f"> ❌ rendering failed for {', '.join(failed)}: see below.", ""]
        for m in manifests:
            lines += _manifest_section(m, texts[_k8s_key(m.env)],
                                       layout.text_budgets[_k8s_key(m.env)], link, masker)
    what = ", ".join(part for part, present in (("plans (`plan.txt`, `plan.json`)", plans),
                                                 ("manifest diffs (`k8s.json`)", manifests))
                     if present)
    footer = (f"Full {what} are in the "
              + (f"[workflow run's artifacts]({link})" if link else "workflow run's artifacts")
              + ".")
    lines += ["---", f"<sub>{footer} Updated in place by `mlops comment post`; the hidden header "
              "records each plan's fingerprint (what its apply would do) and commit: on merge, "
              "`mlops apply` applies only a plan with the same fingerprint.</sub>"]
    # Every piece was masked already; one more pass over all but the machine header is
    # cheap insurance against a piece that was not.
    return "\n".join([*lines[:2], masker.mask("\n".join(lines[2:]))]) + "\n"


def _terraform_part(plans: Sequence[PlanInput], texts: Mapping[str, list[str]],
                    layout: _Layout, link: str | None, masker: Masker,
                    production: frozenset[str]) -> list[str]:
    summaries = [p.summary for p in plans]
    totals = summaries[0].counts
    for s in summaries[1:]:
        totals = totals + s.counts
    envs = " ".join(f"`{s.env}`" for s in summaries)
    failed = [s.env for s in summaries if s.status == "failed"]
    ok = [s for s in summaries if s.status == "ok"]
    headline = _counts_text(totals, refresh_drift=sum(_refresh_drift(s) for s in summaries))
    if failed:
        headline += f" · ❌ {len(failed)} failed ({', '.join(failed)})"
    unapplyable = [s.env for s in ok if s.not_applyable]
    if unapplyable:
        headline += f" · ⛔ not applyable: {', '.join(unapplyable)}"
    incomplete = [s.env for s in ok if s.incomplete]
    if incomplete:
        headline += f" · ⏳ incomplete: {', '.join(incomplete)}"
    blocked = [p.summary.env for p in plans if p.policy]
    if blocked:
        headline += f" · 🚫 policy violations in {', '.join(blocked)}"
    if any(s.destroys and (s.critical or s.env in production) for s in ok) or blocked:
        icon = "🛑"
    elif any(s.destroys for s in ok) or failed or unapplyable or incomplete:
        icon = "⚠️"
    else:
        icon = "📋"
    lines = [f"## {icon} Terraform plan · {envs}", "", f"**Total:** {headline}"]
    all_cost = [line for s in ok for line in s.cost]
    if all_cost:
        lines.append(f"**Cost change:** {cost.total(all_cost).render()}")
    lines.append("")
    lines += _policy_alerts(plans, layout.alert_cap)
    lines += _alerts(summaries, layout.alert_cap, production)
    for p in plans:
        lines += _section(p, texts[p.summary.env], layout.text_budgets[p.summary.env],
                          layout.row_limit, link, masker, production)
    return lines


def _fill(sizes: Mapping[str, int], available: int) -> dict[str, int]:
    """Share `available` bytes between texts: small ones whole, the rest split evenly."""
    budgets: dict[str, int] = {}
    remaining = max(0, available)
    pending = sorted(sizes.items(), key=lambda kv: kv[1])
    while pending:
        share = remaining // len(pending)
        env, need = pending[0]
        if need <= share:
            budgets[env] = need
            remaining -= need
            pending.pop(0)
        else:
            for env, _ in pending:
                budgets[env] = share
            break
    return budgets


def render(plans: Sequence[PlanInput], *, order: Sequence[str] = (),
           production: Collection[str] = (), masker: Masker | None = None,
           run_link: str | None = None, limit: int = MAX_BODY,
           manifests: Sequence[ManifestDiffInput] = ()) -> str:
    """The comment body for these plans and manifest diffs, never over `limit` (UTF-8
    bytes). Sections follow `order` (mlops.yaml's promotion order); `production` are the
    envs of the prod tier."""
    if not plans and not manifests:
        raise ValueError("no plans or manifest diffs to render")
    masker = masker or Masker()
    for names in ([p.summary.env for p in plans], [m.env for m in manifests]):
        seen: set[str] = set()
        for name in names:
            if envs_core.env_name_problem(name) or name in seen:
                raise ValueError(f"env {name!r} is invalid or appears twice")
            seen.add(name)
    ordered = sorted(plans, key=lambda p: env_sort_key(p.summary.env, list(order)))
    k8s_ordered = sorted(manifests, key=lambda m: env_sort_key(m.env, list(order)))
    prod = frozenset(production)
    texts = {p.summary.env: [_diff_line(line) for line in
                             masker.mask(p.text_plan.rstrip("\n")).splitlines()]
             if p.text_plan.strip() and p.summary.status == "ok" else []
             for p in ordered}
    texts.update({_k8s_key(m.env): [_clip(line) for line in
                                    masker.mask(m.diff.rstrip("\n")).splitlines()]
                  if m.diff.strip() and not m.error else [] for m in k8s_ordered})
    envs = list(texts)

    def build(layout: _Layout) -> str:
        return _assemble(ordered, texts, layout, run_link, masker, prod, k8s_ordered)

    full = _Layout({e: None for e in envs}, None, MAX_ALERT_ADDRESSES)
    body = build(full)
    if size(body) <= limit:
        return body

    # 1. Shorten the text plans, sharing what is left after everything else.
    no_text = _Layout({e: 0 for e in envs}, None, MAX_ALERT_ADDRESSES)
    base = size(build(no_text))
    if base <= limit:
        sizes = {e: size("\n".join(t)) for e, t in texts.items() if t}
        available = limit - base
        for _ in range(8):
            budgets: dict[str, int | None] = dict.fromkeys(envs, 0)
            budgets.update(_fill(sizes, available))
            body = build(_Layout(budgets, None, MAX_ALERT_ADDRESSES))
            if size(body) <= limit:
                return body
            available -= size(body) - limit + 256
        return build(no_text)

    # 2. No text plans; shorten the tables (same row cap for every table), largest cap first.
    lo, hi = 0, max((len(p.summary.resources) + len(p.summary.outputs) + len(p.summary.drift)
                     + len(p.summary.actions) + len(p.summary.deferred)
                     for p in ordered), default=0)
    best: str | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = build(_Layout({e: 0 for e in envs}, mid, MAX_ALERT_ADDRESSES))
        if size(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    if best is not None:
        return best

    # 3. Only when the summaries and warnings alone are too big (dozens of envs): shorter
    # warning lists, then a hard cut on a line boundary. The header survives either way.
    body = build(_Layout({e: 0 for e in envs}, 0, 3))
    if size(body) <= limit:
        return body
    note = "\n\n_… comment cut to fit GitHub's size limit; see the workflow run's artifacts._\n"
    room = limit - size(note)
    kept = body.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    kept = kept[: kept.rfind("\n")] if "\n" in kept else kept
    return kept + note


# ---------------------------------------------------------------- apply notices

NOTICE_START = "<!-- mlops:apply-notice -->"
NOTICE_END = "<!-- /mlops:apply-notice -->"


def with_notice(body: str, notice: str, *, limit: int = MAX_BODY) -> str:
    """Our comment `body` with `notice` (markdown) placed right under the hidden header,
    replacing an earlier notice. The marker and the header stay exactly as they were: a
    notice (e.g. "not applied: the plan changed") must never alter what the comment
    records as reviewed. Over `limit`, the reviewed part is cut at a line, with a note."""
    if not is_plan_comment(body):
        raise ValueError("not an mlops plan comment (its first line is not the marker)")
    lines = body.split("\n")
    head, rest = lines[:2], "\n".join(lines[2:])
    start, end = rest.find(NOTICE_START), rest.find(NOTICE_END)
    if 0 <= start < end:
        rest = (rest[:start] + rest[end + len(NOTICE_END):]).lstrip("\n")
    block = f"{NOTICE_START}\n{notice.rstrip()}\n\n---\n{NOTICE_END}\n"
    out = "\n".join([*head, block + rest])
    if size(out) <= limit:
        return out
    note = "\n\n_… the reviewed plan below the notice was cut to fit GitHub's size limit._\n"
    room = limit - size("\n".join([*head, block])) - size(note) - 1
    if room < 0:
        raise ValueError("the notice alone does not fit in a comment")
    kept = rest.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    kept = kept[: kept.rfind("\n")] if "\n" in kept else ""
    return "\n".join([*head, block + kept + note])


def notice_section(plan: PlanInput, *, title: str, details: Sequence[str],
                   production: Collection[str] = (), masker: Masker | None = None,
                   limit: int = 30_000) -> str:
    """A notice: a caution alert with `title` and `details`, then the new plan's section
    (rendered like a comment section, without marker or header), within `limit` bytes.
    `production` are the envs of the prod tier, as for render."""
    masker = masker or Masker()
    rendered = render([plan], production=production, masker=masker, limit=max(limit, 4000))
    section = rendered.split("\n", 2)[2] if rendered.count("\n") >= 2 else ""
    lines = ["> [!CAUTION]", f"> ⛔ {masker.mask(title)}"]
    lines += [f"> - {masker.mask(d)}" for d in details]
    return "\n".join(lines) + "\n\n<details open><summary>The plan at merge</summary>\n\n" \
        + section + "\n</details>\n"
