"""What an env serves, as its tfvars say it, and how a release, a promotion or a rollback
changes that. Pure: plain data in (the `serving` block), a Change out (the new block, the
edit, a title, a branch, and lines for humans).

The shape kept in `serving.releases` (ADR 0004, ADR 0015):

    releases = {
      m-3f2a9c1b0d = { stable = { ... v1 ... } }                       # previous: rollback target
      m-7c0d2e4f1a = { stable = { ... v1, initial_weight = 90 ... }
                       canary = { ... v2, initial_weight = 10 ... } }  # active
    }
    active_release = "m-7c0d2e4f1a"

- A release key names the model it releases: `m-` and the first 10 hex digits of the
  candidate's sha256 (content-addressed, so the same model gives the same key; 12
  characters, valid for the module's 1-16 and short enough for SageMaker's 63-character
  names), or what `--release` says.
- `release`: the first one enables serving with the model as the only (stable) variant.
  Later ones add a release with the current stable plus the candidate as `canary` at the
  chosen weight (stable gets the rest of 100), make it active, and keep exactly one
  other: the release that serves the current stable alone (the rollback target). A
  release whose canary was never promoted is replaced, not stacked: the new candidate
  starts at the weight its release chose.
- `promote`: the active release's canary becomes its only (stable) variant, in place.
- `back to`: another retained release becomes active; an active release with a canary
  (a failed or abandoned canary) is dropped on the way, so it never becomes a rollback
  target. Without a retained stable-only release, the canary is dropped in place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.core import tfvars
from mlops.core.tfvars import Nested
from mlops.errors import MlopsError

MODEL_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/models/"
                       r"(?P<sha>[0-9a-f]{64})/model\.tar\.gz$")
# modules/sagemaker_endpoint: "each release key must be 1-16 letters, digits or hyphens".
RELEASE_KEY = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?$")
DEFAULT_CANARY_WEIGHT = 10
KEY_PREFIX = "m-"
# The order variant fields are written in; others follow in their own order.
FIELD_ORDER = ("image", "model_data_url", "instance_type", "instance_count", "environment",
               "initial_weight")
EDIT_ORDER = ("enabled", "releases", "active_release")
RELEASES_COMMENT = ("\n# Releases, written by `mlops release`: one EndpointConfig each; the "
                    "previous one is\n# kept for rollback (docs/models.md).")


@dataclass(frozen=True)
class Candidate:
    """A model pushed by `mlops artifact push`: s3://<bucket>/models/<sha256>/model.tar.gz."""

    uri: str
    bucket: str
    sha256: str

    @property
    def short(self) -> str:
        return self.sha256[:12]


def parse_model_uri(uri: str) -> Candidate:
    match = MODEL_URI.match(uri.strip())
    if match is None:
        raise MlopsError(
            f"--model {uri!r} is not a pushed model artifact",
            "a release serves a content-addressed artifact, "
            "s3://<env bucket>/models/<sha256>/model.tar.gz, so the release key, the plan and "
            "the policy gate know exactly which model it is",
            "push it first and use the URI it prints: mlops artifact push DIR --env ENV")
    return Candidate(uri.strip(), match["bucket"], match["sha"])


def default_key(sha256: str) -> str:
    return KEY_PREFIX + sha256[:10]


def check_key(key: str) -> str:
    if not RELEASE_KEY.match(key):
        raise MlopsError(f"--release {key!r} is not a valid release key",
                         "it becomes part of SageMaker names: 1-16 letters, digits or hyphens, "
                         "starting and ending with a letter or digit",
                         "e.g. --release v7, or leave it out (the key is then m-<sha256[:10]>)")
    return key


def check_weight(weight: int) -> int:
    if not 1 <= weight <= 99:
        raise MlopsError(f"--canary-weight {weight} is out of range",
                         "the canary's share of traffic in percent; the stable variant keeps "
                         "the rest", "use a whole number from 1 to 99 (default 10)")
    return weight


Variant = dict[str, Any]
Release = dict[str, Variant]


@dataclass(frozen=True)
class Serving:
    """The tfvars' `serving` block, as far as releases go."""

    enabled: bool
    releases: Mapping[str, Release]
    active: str

    @classmethod
    def from_block(cls, block: Mapping[str, Any], where: str) -> Serving:
        def bad(what: str) -> MlopsError:
            return MlopsError(f"{where}: {what}",
                              "mlops reads and edits serving.releases as the module declares "
                              "it: release -> variant (stable, canary) -> model",
                              f"fix {where} by hand (see modules/sagemaker_endpoint/README.md)")

        releases = block.get("releases") or {}
        if not isinstance(releases, Mapping):
            raise bad("serving.releases is not a map")
        for key, release in releases.items():
            if not isinstance(release, Mapping) or "stable" not in release:
                raise bad(f"release {key} has no stable variant")
            for variant, spec in release.items():
                if variant not in ("stable", "canary"):
                    raise bad(f"release {key} has a variant {variant!r} (only stable, canary)")
                if not isinstance(spec, Mapping) or not isinstance(spec.get("model_data_url"),
                                                                   str):
                    raise bad(f"release {key} variant {variant} has no model_data_url")
        enabled = block.get("enabled", False)
        if not isinstance(enabled, bool):
            raise bad("serving.enabled is not true or false")
        active = block.get("active_release") or ""
        if not isinstance(active, str):
            raise bad("serving.active_release is not a string")
        return cls(enabled, {k: {v: dict(s) for v, s in r.items()} for k, r in releases.items()},
                   active)

    @property
    def serving(self) -> bool:
        """Whether an endpoint exists for this block (enabled with a valid active release)."""
        return self.enabled and self.active in self.releases

    def active_release(self) -> Release | None:
        return self.releases.get(self.active) if self.serving else None

    def rollback_target(self) -> str | None:
        """The retained release that serves the active release's stable model alone: where
        an abandoned canary goes back to, and what a release keeps."""
        current = self.active_release()
        if current is None:
            return None
        stable_url = current["stable"]["model_data_url"]
        if "canary" not in current:
            return self.active
        for key, release in sorted(self.releases.items()):
            if key != self.active and set(release) == {"stable"} and \
                    release["stable"]["model_data_url"] == stable_url:
                return key
        return None

    def to_block(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "releases": self.releases,
                "active_release": self.active}


@dataclass(frozen=True)
class Change:
    env: str
    kind: str  # "release", "promote", "rollback"
    before: Serving
    after: Serving
    title: str
    branch: str
    lines: tuple[str, ...] = field(default=())

    @property
    def unchanged(self) -> bool:
        return self.before == self.after

    def edits(self) -> dict[str, Any]:
        """The changes for tfvars.edit_block("serving", ...): only what differs."""
        out: dict[str, Any] = {}
        if self.after.enabled != self.before.enabled:
            out["enabled"] = self.after.enabled
        nested: dict[str, Release | None] = {
            key: _ordered(release) for key, release in self.after.releases.items()
            if self.before.releases.get(key) != release}
        nested.update({key: None for key in self.before.releases
                       if key not in self.after.releases})
        if nested:
            out["releases"] = Nested(nested)
        if self.after.active != self.before.active:
            out["active_release"] = self.after.active
        return out

    def body(self, command: str) -> str:
        """The pull request body."""
        points = "\n".join(f"- {line}" for line in self.lines)
        return (f"{points}\n\nThe plan of this pull request shows the SageMaker models, the "
                f"EndpointConfig and the endpoint change. Proposed by `{command}`.")


def _ordered(release: Release) -> Release:
    """Variants stable then canary, fields in FIELD_ORDER: how they are written."""
    out: Release = {}
    for variant in ("stable", "canary"):
        if variant in release:
            spec = release[variant]
            known = [f for f in FIELD_ORDER if f in spec]
            out[variant] = {f: spec[f] for f in [*known, *[f for f in spec if f not in known]]}
    return out


def _short_of(url: str) -> str:
    match = MODEL_URI.match(url)
    return match["sha"][:12] if match else url


def _without_weight(spec: Variant) -> Variant:
    return {k: v for k, v in spec.items() if k != "initial_weight"}


def plan_release(before: Serving, env: str, candidate: Candidate, *, expected_bucket: str,
                 weight: int | None = None, image: str | None = None,
                 key: str | None = None) -> Change:
    """The release of `candidate` in `env` (see the module docstring)."""
    if candidate.bucket != expected_bucket:
        raise MlopsError(
            f"{candidate.uri} is in bucket {candidate.bucket}, not in {env}'s artifact bucket "
            f"{expected_bucket}",
            f"{env}'s models run with an execution role that may read its own bucket only",
            f"push the model to {env}: mlops artifact push DIR --env {env}")
    key = check_key(key) if key else default_key(candidate.sha256)
    current = before.active_release()
    if current is None:
        if weight is not None:
            raise MlopsError(f"--canary-weight: {env} serves nothing yet",
                             "a first release serves its model alone (the stable variant): "
                             "there is no other model to split traffic with",
                             "leave out --canary-weight for the first release")
        if not image:
            raise MlopsError(f"the first release of {env} needs --image",
                             "every variant names the model server image it runs; later "
                             "releases reuse the stable variant's",
                             "pass the model-server image, e.g. --image <the env's "
                             "model_image_repository_url output>:<tag>")
        after = Serving(True, {key: {"stable": {"image": image,
                                                "model_data_url": candidate.uri}}}, key)
        lines = [f"serves model `{candidate.short}` ({candidate.uri}) alone, as release "
                 f"`{key}`: the first release of {env}, so serving is enabled"]
        lines += [f"drops release `{k}`" for k in before.releases if k != key]
        return Change(env, "release", before, after,
                      f"First release of {env}: model {candidate.short} (release {key})",
                      f"mlops/release-{env}-{key}", tuple(lines))

    weight = check_weight(weight if weight is not None else DEFAULT_CANARY_WEIGHT)
    stable = current["stable"]
    canary = current.get("canary")
    if canary is not None and canary["model_data_url"] == candidate.uri:
        return Change(env, "release", before, before,
                      f"model {candidate.short} is already the canary of release "
                      f"{before.active} (promote it: mlops canary promote --env {env})", "")
    if stable["model_data_url"] == candidate.uri:
        if canary is None:
            return Change(env, "release", before, before,
                          f"model {candidate.short} is already what {env} serves (release "
                          f"{before.active})", "")
        raise MlopsError(
            f"model {candidate.short} is the stable model of {env}'s canary release "
            f"{before.active}", "a canary must differ from the model it is compared with",
            f"release another model; to stop the canary: mlops canary abort --env {env}")
    previous = before.rollback_target()
    if key == previous:
        raise MlopsError(f"release key {key} is the key of {env}'s rollback target",
                         "a key names one release, and that one is kept for rollback",
                         "pass another key with --release")
    new_canary = {**_without_weight(stable), "image": image or stable["image"],
                  "model_data_url": candidate.uri, "initial_weight": weight}
    new_stable = {**_without_weight(stable), "initial_weight": 100 - weight}
    releases: dict[str, Release] = {}
    if previous is not None and previous != key:
        releases[previous] = before.releases[previous]
    releases[key] = {"stable": new_stable, "canary": new_canary}
    after = Serving(True, releases, key)
    lines = [f"release `{key}`: canary model `{candidate.short}` ({candidate.uri}) at "
             f"{weight}%, stable model `{_short_of(stable['model_data_url'])}` at "
             f"{100 - weight}%; it becomes the active release"]
    if previous is not None:
        lines.append(f"keeps release `{previous}` (stable "
                     f"`{_short_of(stable['model_data_url'])}` alone): the rollback target")
    if canary is not None:
        lines.append(f"replaces release `{before.active}`, whose canary "
                     f"`{_short_of(canary['model_data_url'])}` was never promoted: the new "
                     f"candidate starts at {weight}%")
    lines += [f"drops release `{k}` (no longer a rollback target)"
              for k in before.releases if k not in releases and k != before.active]
    return Change(env, "release", before, after,
                  f"Release model {candidate.short} to {env} as a {weight}% canary "
                  f"(release {key})", f"mlops/release-{env}-{key}", tuple(lines))


def plan_promoted(before: Serving, env: str) -> Change:
    """After a promotion: the active release's canary becomes its stable variant."""
    current = before.active_release()
    if current is None or "canary" not in current:
        raise MlopsError(f"{env}'s active release {before.active or '(none)'} has no canary",
                         "only a release with a canary can be promoted",
                         f"release a candidate first: mlops release --env {env} --model URI")
    canary = current["canary"]
    releases = dict(before.releases)
    releases[before.active] = {"stable": _without_weight(canary)}
    after = Serving(True, releases, before.active)
    short = _short_of(canary["model_data_url"])
    lines = (f"release `{before.active}`: model `{short}` becomes its only (stable) variant, "
             "as the canary promotion left it serving 100% of the traffic",
             "Git, Terraform and the endpoint then agree: the next plan shows no drift")
    return Change(env, "promote", before, after,
                  f"Promote model {short} in {env}: release {before.active} becomes stable",
                  f"mlops/promote-{env}-{before.active}", lines)


def plan_back_to(before: Serving, env: str, target: str, why: str) -> Change:
    """Another retained release becomes active (endpoint rollback, or an abandoned canary
    going back to its rollback target). An active release with a canary is dropped."""
    if target not in before.releases:
        known = ", ".join(sorted(before.releases)) or "none"
        raise MlopsError(f"{env} has no release {target!r}",
                         f"the releases retained in envs/{env}/terraform.tfvars are: {known}",
                         "pass one of them with --to")
    if target == before.active:
        return Change(env, "rollback", before, before, f"{env} already serves release {target}",
                      f"mlops/rollback-{env}-{target}")
    releases = dict(before.releases)
    lines = [f"release `{target}` becomes active again: {why}"]
    current = before.active_release()
    if current is not None and "canary" in current:
        del releases[before.active]
        lines.append(f"drops release `{before.active}`: its canary "
                     f"`{_short_of(current['canary']['model_data_url'])}` is abandoned, so it "
                     "must never become a rollback target")
    else:
        lines.append(f"keeps release `{before.active}`, to roll forward again if wanted")
    after = Serving(True, releases, target)
    return Change(env, "rollback", before, after, f"Roll {env} back to release {target}",
                  f"mlops/rollback-{env}-{target}", tuple(lines))


def plan_canary_dropped(before: Serving, env: str, why: str) -> Change:
    """After a canary rollback or abort: back to the rollback target, or, without one, the
    active release keeps its stable variant alone."""
    current = before.active_release()
    if current is None or "canary" not in current:
        return Change(env, "rollback", before, before, f"{env} has no canary", "")
    target = before.rollback_target()
    if target is not None:
        return plan_back_to(before, env, target, why)
    releases = dict(before.releases)
    releases[before.active] = {"stable": _without_weight(current["stable"])}
    after = Serving(True, releases, before.active)
    return Change(env, "rollback", before, after,
                  f"Drop the canary of release {before.active} in {env}",
                  f"mlops/rollback-{env}-{before.active}",
                  (f"release `{before.active}` keeps its stable variant alone: {why}",))


def artifact_bucket(project: str, env: str) -> str:
    """The env's artifact bucket, as envs/*/main.tf names it (modules/ml_bucket:
    `{project}-{env}-{name}` with name "artifacts")."""
    return f"{project}-{env}-artifacts"


def read_serving(text: str, where: str) -> Serving:
    """The `serving` block of a tfvars text."""
    try:
        block = tfvars.read_block(text, "serving")
    except tfvars.TfvarsError as err:
        raise MlopsError(f"cannot read serving in {where}", str(err),
                         f"keep serving in {where} a literal object, one entry per line "
                         "(as `terraform fmt` writes it)") from err
    return Serving.from_block(block, where)


def apply_change(text: str, change: Change, where: str) -> str:
    """`text` (a tfvars file) with `change` made to its serving block, everything else kept
    byte for byte; checked by reading the result back."""
    try:
        out = tfvars.edit_block(text, "serving", change.edits(), order=EDIT_ORDER,
                                inline_maps=frozenset({"environment"}),
                                comments={"releases": RELEASES_COMMENT})
    except tfvars.TfvarsError as err:
        raise MlopsError(f"cannot edit serving in {where}", str(err),
                         "make the change by hand, or lay the block out as `terraform fmt` "
                         "does and re-run") from err
    check_written(out, change, where)
    return out


def check_written(text: str, change: Change, where: str) -> None:
    """The serving block of `text` says exactly what `change` meant."""
    found = read_serving(text, where)
    if (found.enabled, found.active, dict(found.releases)) != (
            change.after.enabled, change.after.active, dict(change.after.releases)):
        raise MlopsError(f"the edited {where} does not read back as intended",
                         f"intended {change.after.to_block()}, read {found.to_block()}",
                         "this is a bug in mlops' editor: make the change by hand and report it")
