"""One progress shape and one cancel token across the long verbs: index (with its rescore
and clustering stages), batch planning and restore jobs."""

from __future__ import annotations

import pytest

from fakes import FakeBackend, draw_photo, open_test_library
from refldm_desktop.core.progress import Cancelled, CancelToken, Progress
from refldm_desktop.core.restoring import RestoreSettings


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "Pictures"
    for i in range(6):
        draw_photo(root / f"p{i}.png", [(1 + i % 2, i, 10, 10), (3, i, 100, 60)])
    return root


def test_index_reports_each_stage_and_stops_on_the_token(tmp_path, photos):
    seen: list[Progress] = []
    with open_test_library(tmp_path / "home", FakeBackend()) as lib:
        lib.index([photos], progress=seen.append)
        stages = [p.stage for p in seen]
        assert stages[0] == "index" and "cluster" in stages
        index = [p for p in seen if p.stage == "index"]
        assert (index[0].done, index[0].total) == (0, 6) and (index[-1].done, index[-1].total) == (6, 6)
        assert index[-1].message.endswith(".png") and index[-1].fraction == 1.0

    token = CancelToken()

    def cancel_after_two(p: Progress) -> None:
        if p.stage == "index" and p.done == 2:
            token.cancel()

    more = tmp_path / "More"
    for i in range(5):
        draw_photo(more / f"q{i}.png", [(2, i, 10, 10)])
    with open_test_library(tmp_path / "home", FakeBackend()) as lib:
        r = lib.index([more], progress=cancel_after_two, cancel=token)
        assert r.cancelled and r.new == 2
        assert lib.index([more]).new == 3  # the next run finishes the rest


def test_batch_planning_reports_per_face_and_can_be_cancelled(tmp_path, photos):
    with open_test_library(tmp_path / "home", FakeBackend()) as lib:
        lib.index([photos])
        seen: list[Progress] = []
        settings = RestoreSettings(restorer="passthrough", no_refs_ok=True)
        plan = lib.restoring.plan_batch(None, min_quality=1.0, settings=settings, progress=seen.append)
        planned = [p for p in seen if p.stage == "plan"]
        assert planned[-1].done == planned[-1].total == plan.considered == 12
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled, match="nothing was queued"):
            lib.restoring.plan_batch(None, min_quality=1.0, settings=settings, cancel=token)
        assert lib.jobs.list(all=True) == []


def test_restore_jobs_report_the_same_progress_shape(tmp_path, photos):
    from refldm_desktop.jobs.queue import JobResult
    from refldm_desktop.jobs.runner import HandlerRegistry

    def handler(ctx):
        assert not ctx.cancel_token.cancelled
        ctx.progress(faces_done=0, faces_total=2, steps=4)
        ctx.progress(faces_done=1, step=4)
        return JobResult(summary={"faces": []})

    with open_test_library(tmp_path / "home", FakeBackend()) as lib:
        lib.index([photos])
        lib.jobs.enqueue_restore([p.id for p in lib.photos()[:2]], restorer="passthrough")
        seen: list[Progress] = []
        lib.jobs.run(HandlerRegistry({"restore_photo": handler}), progress=seen.append)
        assert seen and {p.stage for p in seen} == {"restore"}
        assert any(p.done == 1 and p.total == 2 and "step 4/4" in p.message for p in seen)
        assert sum("done" in p.message for p in seen) == 2
