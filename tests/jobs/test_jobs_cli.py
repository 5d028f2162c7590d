"""`jobs list|cancel|resume|run` and `versions list`: JSON shapes, texts and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jobfix import home, library_with_photos, reopen  # noqa: F401 (fixtures)
from job_handlers import write_output

from refldm_desktop.cli import job_verbs, library_verbs, main
from refldm_desktop.jobs.runner import HandlerRegistry

JOB_KEYS = {
    "id", "kind", "state", "batch", "photo_id", "photo", "priority", "cancel_requested", "progress",
    "message", "error", "note", "attempts", "payload", "result", "version_id", "output",
    "created_at", "started_at", "finished_at",
}
VERSION_KEYS = {
    "id", "photo_id", "job_id", "original", "original_sha256", "output", "output_sha256", "restorer",
    "model", "parameters", "seed", "references", "faces", "created_at", "output_lost",
}


@pytest.fixture
def cli(home, monkeypatch, capsys):
    monkeypatch.setattr(library_verbs, "open_library", lambda args: reopen(Path(args.home)))
    monkeypatch.setattr(
        job_verbs, "handler_registry", lambda: HandlerRegistry({"restore_photo": write_output})
    )

    def run(*argv: str):
        code = main(["--home", str(home), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def queued(library_with_photos, tmp_path):
    """Three queued restorations of three photos; the library is closed for the CLI."""
    lib, ids = library_with_photos(3)
    r = lib.jobs.enqueue_restore(ids, output_dir=tmp_path / "out", seed=5, steps=30)
    paths = [p.path for p in lib.photos()]
    lib.close()
    return list(r.queued), ids, paths


def jobs_json(cli, *extra):
    code, out, err = cli("jobs", "list", "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_jobs_list_json_shape(cli, queued):
    job_ids, ids, paths = queued
    jobs = jobs_json(cli)
    assert [j["id"] for j in jobs] == job_ids
    for j, pid, path in zip(jobs, ids, paths):
        assert set(j) == JOB_KEYS
        assert j["state"] == "queued" and j["kind"] == "restore_photo"
        assert j["photo_id"] == pid and j["photo"] == str(path) and Path(j["photo"]).is_absolute()
        assert j["progress"] == {"faces_done": 0, "faces_total": None, "step": None, "steps": None, "stage": None}
        assert j["payload"]["seed"] == 5 and j["payload"]["steps"] == 30
        assert j["output"] is None and j["version_id"] is None and j["started_at"] is None
        assert isinstance(j["created_at"], str)


def test_run_cancel_resume_round_trip(cli, queued):
    job_ids, ids, _ = queued
    code, out, _ = cli("jobs", "cancel", str(job_ids[0]))
    assert code == 0 and f"cancelled {job_ids[0]}" in out
    assert [j["id"] for j in jobs_json(cli)] == job_ids[1:]  # cancelled ones are hidden by default
    assert {j["id"]: j["state"] for j in jobs_json(cli, "--all")}[job_ids[0]] == "cancelled"

    code, out, err = cli("jobs", "run")
    assert code == 0, err
    assert "2 done, 0 failed, 0 cancelled" in out
    done = {j["id"]: j for j in jobs_json(cli, "--all")}
    for i in job_ids[1:]:
        assert done[i]["state"] == "done" and Path(done[i]["output"]).is_file()
        assert done[i]["progress"]["faces_done"] == 1 and done[i]["finished_at"] is not None

    code, out, _ = cli("jobs", "cancel", str(job_ids[1]))
    assert code == 0 and f"job {job_ids[1]} is already done" in out
    code, out, _ = cli("jobs", "resume", str(job_ids[1]))
    assert code == 0 and "only failed or cancelled jobs are resumed" in out
    code, out, _ = cli("jobs", "resume")
    assert code == 0 and f"queued again: {job_ids[0]}" in out
    assert cli("jobs", "run")[0] == 0
    assert {j["state"] for j in jobs_json(cli, "--all")} == {"done"}

    code, out, _ = cli("jobs", "list")
    assert code == 0 and "no queued, running or failed jobs" in out
    code, out, _ = cli("jobs", "list", "--all")
    assert code == 0 and out.count("done") == 3 and "(restored).txt" in out


def test_versions_list_json_shape_and_photo_filter(cli, queued):
    job_ids, ids, paths = queued
    code, out, _ = cli("versions", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = cli("versions", "list")
    assert code == 0 and "no restored versions" in out
    cli("jobs", "run")

    code, out, _ = cli("versions", "list", "--json")
    versions = json.loads(out)
    assert code == 0 and sorted(v["photo_id"] for v in versions) == ids
    for v in versions:
        assert set(v) == VERSION_KEYS
        assert Path(v["output"]).is_absolute() and Path(v["output"]).is_file() and v["output_lost"] is False
        assert v["seed"] == 5 and v["job_id"] in job_ids
        assert v["references"] == [{"face_id": 1, "references": [2, 3]}]
        assert [f["status"] for f in v["faces"]] == ["restored"]

    by_id = json.loads(cli("versions", "list", str(ids[1]), "--json")[1])
    by_path = json.loads(cli("versions", "list", str(paths[1]), "--json")[1])
    assert by_id == by_path and [v["photo_id"] for v in by_id] == [ids[1]]
    assert by_id[0]["original"] == str(paths[1])

    code, out, _ = cli("versions", "list", str(ids[0]))
    assert code == 0 and "test-writer" in out and str(paths[0]) in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["jobs", "cancel", "999"], "no job with id 999"),
        (["jobs", "resume", "999"], "no job with id 999"),
        (["versions", "list", "999"], "no photo with id 999"),
        (["versions", "list", "/not/in/the/library.jpg"], "is not in the library"),
    ],
)
def test_unknown_ids_exit_2_with_a_clear_message(cli, queued, argv, message):
    code, out, err = cli(*argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_jobs_run_reports_failures_and_kinds_it_cannot_run(cli, queued, home, monkeypatch):
    job_ids, ids, _ = queued

    def broken(ctx):
        raise RuntimeError("the model file is damaged")

    monkeypatch.setattr(job_verbs, "handler_registry", lambda: HandlerRegistry({"restore_photo": broken}))
    with reopen(home) as lib:
        lib.jobs.queue.enqueue("future_kind", [(None, {})])
    code, out, err = cli("jobs", "run")
    assert code == 1 and "0 done, 3 failed" in out
    assert "the model file is damaged" in err
    assert "1 queued jobs need a handler" in err and "future_kind" in err
    code, out, _ = cli("jobs", "list")
    assert "failed" in out and "the model file is damaged" in out


def test_ctrl_c_during_jobs_run_says_how_to_continue(cli, queued, monkeypatch):
    job_ids, _, _ = queued

    def interrupted(ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(job_verbs, "handler_registry", lambda: HandlerRegistry({"restore_photo": interrupted}))
    code, out, err = cli("jobs", "run")
    assert code == 130 and "jobs run` to continue" in err and "Traceback" not in err
    assert [j["state"] for j in jobs_json(cli)] == ["queued"] * 3
