"""The stand-ins for third-party actions (tests/actions/), run under act the way the
project's workflows use them: checkout (shallow, full history, persist-credentials),
setup-python (a venv of the requested version on PATH, `pip install -e .`),
setup-terraform (the pinned version), upload/download-artifact across jobs, and cache
(a miss saves, the next run restores). If these lie, every workflow test above them does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from actrunner import Act, ActRun, local_repositories, repository_payload

# terraform: the setup-terraform stand-in puts the machine's Terraform on PATH
pytestmark = [pytest.mark.workflow, pytest.mark.terraform]

SELFTEST = Path(__file__).resolve().parents[1] / "actions" / "selftest" / "standins.yml"


def _push(act: Act) -> dict[str, object]:
    return {"ref": "refs/heads/main", "after": act.repo.head(),
            "repository": repository_payload(act.repo.repository)}


def _check(run: ActRun) -> None:
    assert run.returncode == 0 and {j.result for j in run.jobs} == {"success"}, (
        f"the stand-ins' workflow failed: {run.results()}\n{run.tail()}")


@pytest.fixture(scope="module")
def first_run(act: Act) -> ActRun:
    act.repo.commit("add the stand-ins' self-test workflow",
                    {".github/workflows/standins.yml": SELFTEST.read_text()})
    act.repo.git("branch", "-f", "feature", "HEAD~1")
    return act.run("standins.yml", "push", _push(act))


def test_checkout_fetches_the_event_commit_as_asked(first_run: ActRun) -> None:
    _check(first_run)
    log = first_run.job("produce").log
    assert "checkout-ok" in log and "full-checkout-ok" in log, log


def test_setup_python_and_terraform_put_the_pinned_versions_on_path(first_run: ActRun) -> None:
    _check(first_run)
    log = first_run.job("produce").log
    assert "mlops 0.1.0" in log and "terraform-ok" in log, log


def test_artifacts_reach_the_next_job(first_run: ActRun) -> None:
    _check(first_run)
    assert first_run.job("consume").result == "success"
    assert "artifacts-ok" in first_run.job("consume").log


def test_cache_restores_what_an_earlier_run_saved(act: Act, first_run: ActRun) -> None:
    _check(first_run)
    assert "cache-hit=false" in first_run.job("produce").log
    second = act.run("standins.yml", "push", _push(act))
    _check(second)
    log = second.job("produce").log
    assert "cache-hit=true" in log, log
    # what the first run saved: its own run id
    assert f"\n{first_run.run_id}\n" in f"\n{log}", log


def test_a_workflow_with_an_action_without_stand_in_is_refused() -> None:
    with pytest.raises(AssertionError, match="no stand-in for someone/else"):
        local_repositories("steps:\n  - uses: someone/else@" + "a" * 40 + " # v1.0.0\n")
