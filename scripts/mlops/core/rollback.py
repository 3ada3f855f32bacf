"""Rolling an env back to a previously applied commit: the decisions. Pure.

- which paths Git must revert for the env (its own root, and the local modules it calls,
  as `mlops changed` decides: core/changes.py), never global inputs;
- the revert branch, pull request title and body, or the exact `git revert` commands;
- the refusals (REF never touched the env, is not an ancestor of main, has no record).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlops.core import changes
from mlops.core.deployments import Record


def revert_paths(decision: changes.Decision, env: str) -> list[str]:
    """Paths changed since the target that affect `env` through its own root or the
    modules it calls. Global inputs (mlops.yaml, the mlops package, workflows) are left:
    reverting them would change every env."""
    return sorted(r.path for r in decision.reasons if env in r.envs
                  and (r.path.startswith(f"envs/{env}/") or r.path.startswith("modules/")))


def branch_name(env: str, target: str) -> str:
    return f"rollback/{env}-to-{target[:12]}"


def title(env: str, target: str) -> str:
    return f"Roll back {env} to {target[:12]}"


def pr_body(env: str, target: str, current: str, record_key: str, paths: Sequence[str],
            shared_modules: Sequence[str]) -> str:
    lines = [f"`mlops rollback` applied `{target[:12]}` to **{env}** (it was at "
             f"`{current[:12] or '?'}`). Deployment record: `{record_key}`.", "",
             "This pull request makes `main` say what is deployed, so the next merge does not "
             "undo the rollback. Merge it (after its plan shows no changes for "
             f"{env}), or fix forward.", "", "Files set back to their content at the target:"]
    lines += [f"- `{p}`" for p in paths]
    if shared_modules:
        lines += ["", "> [!WARNING]", "> These modules are shared with other envs: their "
                  "plans on this pull request show what reverting them would change there.",
                  *[f"> - `{m}`" for m in shared_modules]]
    return "\n".join(lines) + "\n"


def revert_commands(env: str, target: str, main_ref: str, commits: Sequence[str]) -> list[str]:
    """What to run by hand to put Git back in line with the rollback."""
    branch = branch_name(env, target)
    if not commits:
        return []
    return [f"git switch -c {branch} {main_ref}",
            f"git revert --no-edit {' '.join(commits)}",
            f"git push origin {branch}",
            f"# then open a pull request from {branch} into main"]


def refuse_target(*, env: str, ref: str, exists: bool, env_at_ref: bool, ancestor: bool,
                  record: Record | None, main_ref: str) -> tuple[str, str, str] | None:
    """(what, why, fix) when REF cannot be rolled back to, else None."""
    if not exists:
        return (f"not rolling back {env}: {ref} is not a commit in this clone",
                "the rollback plans the env root as it was at that commit",
                "pass a commit id or tag from main's history (fetch-depth: 0 in CI)")
    if not env_at_ref:
        return (f"not rolling back {env}: {ref} never touched {env} (envs/{env} does not "
                "exist there)", f"{env} was created after that commit",
                f"pick a commit where envs/{env} exists; `mlops rollback --env {env}` picks "
                "the previous deployment")
    if not ancestor:
        return (f"not rolling back {env}: {ref} is not an ancestor of {main_ref}",
                "only what was merged to main (and so reviewed) is rolled back to",
                "pick a commit from main's history")
    if record is None:
        return (f"not rolling back {env}: {ref} has no deployment record of {env}",
                f"{env} was never applied at that commit, so nobody knows it worked",
                f"pick a commit with a record (`mlops rollback --env {env}` picks the previous "
                "deployment)")
    return None
