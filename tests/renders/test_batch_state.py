"""renders.selectors.batch_state: a batch's state is computed in one place."""

from __future__ import annotations

from renders.models import RenderJob
from renders.selectors import batch_state


def _job(status: str) -> RenderJob:
    return RenderJob(status=status)


def test_a_batch_runs_until_every_size_finished():
    state = batch_state(jobs=[_job("succeeded"), _job("running")])
    assert (state.status, state.done, state.total, state.finished) == ("running", 1, 2, False)


def test_a_batch_fails_only_when_every_size_failed():
    assert batch_state(jobs=[_job("failed"), _job("succeeded")]).status == "completed"
    assert batch_state(jobs=[_job("failed"), _job("failed")]).status == "failed"
