"""Background jobs: claiming from the shared queue, progress, results, failures, crash recovery,
who may see a job, the console progress page and the runner thread. Jobs run inline
(``JobRunner.run_once``) except in the one test of the thread."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ketnoi.core.errors import ValidationFailed
from ketnoi.db.base import utcnow
from ketnoi.db.session import Database
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.jobs import runner as R
from ketnoi.jobs import service
from ketnoi.jobs.models import Job
from tests.conftest import BACKEND, login

SEEN: dict[str, threading.Event] = {}


@R.register("tests.echo", "Tác vụ thử")
def echo(ctx: R.JobContext) -> R.JobResult:
    n = int(ctx.params.get("n", 3))
    if ctx.params.get("fail") == "domain":
        raise ValidationFailed.field("n", "Tham số không hợp lệ.")
    if ctx.params.get("fail") == "crash":
        raise RuntimeError("boom: secret internals")
    if "gate" in ctx.params:  # wait until the test lets the job go on
        SEEN[ctx.params["gate"]].wait(10)
    path = ctx.output_path(".txt")
    with path.open("w") as fh:
        for i in range(n):
            fh.write(f"dòng {i}\n")
            ctx.progress(i + 1, n, f"Đã ghi {i + 1}/{n} dòng.", force=True)
    return R.JobResult(name="ket-qua.txt", message=f"Đã ghi {n} dòng.")


def principal(user_id: str, org: str, **kw) -> Principal:
    return Principal(user_id=user_id, username="u", full_name="Người thử", organization_id=org, department_id=None,
                     is_sysadmin=False, permissions=frozenset(kw.pop("perms", {"home"})), **kw)


def enqueue(database, p: Principal, **params) -> str:
    with database.session() as s:
        return service.enqueue(s, p, "tests.echo", params).id


def load(database, job_id: str) -> Job:
    with database.session() as s:
        return s.get(Job, job_id)


@pytest.fixture
def people(world):
    return {"owner": world.user("chu", roles=["home"]), "peer": world.user("dongnghiep", roles=["home"]),
            "admin": world.user("qtv", roles=["home", "identity.users.write"]),
            "other_org": world.user("nguoi-b", org="b", dept="B1", roles=["home", "identity.users.write"])}


def test_run_once_claims_runs_and_publishes_the_file(database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a), n=4)
    job = load(database, job_id)
    assert job.status == "queued" and job.organization_id == world.org_a and job.created_by_id == people["owner"]
    runner = R.JobRunner(database)
    assert runner.run_once() == job_id
    assert runner.run_once() is None  # queue empty
    job = load(database, job_id)
    assert (job.status, job.progress, job.total, job.attempts) == ("done", 4, 4, 1)
    assert job.message == "Đã ghi 4 dòng." and job.result_name == "ket-qua.txt"
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    path = service.exports_dir() / job.result_file
    assert path.read_text().splitlines() == [f"dòng {i}" for i in range(4)]
    assert not list(service.exports_dir().glob(f"{job_id}*.part"))


def test_progress_is_committed_while_the_job_runs(database, world, people):
    SEEN["g1"] = threading.Event()
    job_id = enqueue(database, principal(people["owner"], world.org_a), n=2, gate="g1")
    runner = R.JobRunner(database)
    t = threading.Thread(target=runner.run_once)
    t.start()
    for _ in range(100):
        if load(database, job_id).status == "running":
            break
        time.sleep(0.05)
    job = load(database, job_id)
    assert job.status == "running" and job.worker == runner.worker_id and job.heartbeat_at is not None
    SEEN["g1"].set()
    t.join(10)
    assert load(database, job_id).status == "done"


def test_failures_keep_a_vietnamese_reason_and_no_file(database, world, people):
    p = principal(people["owner"], world.org_a)
    domain, crash = enqueue(database, p, fail="domain"), enqueue(database, p, fail="crash")
    with database.session() as s:
        s.add(Job(kind="khong.co", params={}, status="queued", organization_id=world.org_a, created_at=utcnow()))
    runner = R.JobRunner(database)
    while runner.run_once():
        pass
    assert load(database, domain).status == "failed" and load(database, domain).error == "Tham số không hợp lệ."
    crashed = load(database, crash)
    assert crashed.status == "failed" and "boom" not in crashed.error and "lỗi hệ thống" in crashed.error
    with database.session() as s:
        unknown = s.scalar(select(Job).where(Job.kind == "khong.co"))
    assert unknown.status == "failed" and "không được hỗ trợ" in unknown.error
    assert not list(service.exports_dir().glob(f"{crash}*"))


def test_only_one_worker_claims_a_job(database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a))
    a, b = Database(database.url), Database(database.url)
    try:
        if BACKEND == "postgresql":
            # a claimant holding the row lock makes the other skip it (SKIP LOCKED), not wait
            s1 = a.sessionmaker()
            s1.execute(select(Job).where(Job.id == job_id).with_for_update())
            with b.session() as s2:
                assert service.claim_next(s2, "b:1:x") is None
            s1.rollback()
            s1.close()
        with a.session() as s1, b.session() as s2:
            first = service.claim_next(s1, "a:1:x")
            second = service.claim_next(s2, "b:1:x")
        assert first is not None and first.id == job_id and second is None
        assert load(database, job_id).worker == "a:1:x"
    finally:
        a.dispose()
        b.dispose()


def test_claims_are_fifo_and_concurrent_claimants_never_share(database, world, people):
    p = principal(people["owner"], world.org_a)
    ids = [enqueue(database, p) for _ in range(6)]
    got: list[str] = []
    lock = threading.Lock()

    def claim(name: str) -> None:
        db = Database(database.url)
        try:
            while True:
                with db.session() as s:
                    job = service.claim_next(s, f"{name}:1:x")
                if job is None:
                    return
                with lock:
                    got.append(job.id)
        finally:
            db.dispose()

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))


def test_a_job_left_running_by_a_crash_is_requeued_at_start(database, world, people):
    p = principal(people["owner"], world.org_a)
    dead_local, stale_remote, alive_remote, poisoned = (enqueue(database, p) for _ in range(4))
    import socket

    host = socket.gethostname()[:120]
    now = utcnow()
    with database.session() as s:
        for job_id, worker, beat, attempts in (
                (dead_local, f"{host}:999999:dead", now, 1),  # a process of this host that is gone
                (stale_remote, "node-2:10:abc", now - timedelta(minutes=10), 1),  # silent for 10 minutes
                (alive_remote, "node-3:10:abc", now, 1),  # another node, still beating
                (poisoned, "node-4:10:abc", now - timedelta(hours=1), service.MAX_ATTEMPTS)):
            s.execute(update(Job).where(Job.id == job_id).values(status="running", worker=worker, started_at=beat,
                                                                   heartbeat_at=beat, attempts=attempts, progress=5))
    runner = R.JobRunner(database)
    assert runner.recover() == 3
    assert load(database, dead_local).status == "queued" and load(database, dead_local).progress == 0
    assert load(database, stale_remote).status == "queued"
    assert load(database, alive_remote).status == "running"
    assert load(database, poisoned).status == "failed" and "dừng đột ngột" in load(database, poisoned).error
    # the re-queued jobs run to the end
    done = {runner.run_once(), runner.run_once()}
    assert done == {dead_local, stale_remote}
    assert load(database, dead_local).status == "done" and load(database, dead_local).attempts == 2


def test_a_stopping_runner_gives_the_job_back(database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a), n=3)
    runner = R.JobRunner(database)
    runner._stop.set()  # as if the app were shutting down while the job ran
    assert runner.run_once() == job_id
    job = load(database, job_id)
    assert job.status == "queued" and job.worker == "" and job.attempts == 0
    assert not list(service.exports_dir().glob(f"{job_id}*"))


def test_a_job_taken_away_is_not_finished_twice(database, world, people):
    SEEN["g2"] = threading.Event()
    job_id = enqueue(database, principal(people["owner"], world.org_a), n=2, gate="g2")
    runner = R.JobRunner(database)
    t = threading.Thread(target=runner.run_once)
    t.start()
    for _ in range(100):
        if load(database, job_id).status == "running":
            break
        time.sleep(0.05)
    with database.session() as s:  # another node decided this worker was dead and re-queued the job
        s.execute(update(Job).where(Job.id == job_id).values(status="queued", worker=""))
    SEEN["g2"].set()
    t.join(10)
    assert load(database, job_id).status == "queued"


def test_old_result_files_are_purged(database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a))
    runner = R.JobRunner(database)
    runner.run_once()
    path = service.exports_dir() / load(database, job_id).result_file
    with database.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(finished_at=utcnow() - timedelta(days=8)))
    scratch_old, scratch_new = service.scratch_dir() / "old.xlsx", service.scratch_dir() / "new.xlsx"
    for f in (scratch_old, scratch_new):
        f.write_bytes(b"x")
    os.utime(scratch_old, (time.time() - 2 * 86400,) * 2)  # a download abandoned two days ago
    runner.sweep()
    assert not path.exists() and load(database, job_id).result_file == ""
    assert not scratch_old.exists() and scratch_new.exists()


def test_api_shows_the_job_to_its_creator_and_org_admins_only(client, database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a), n=2)
    h = login(client, "chu")
    r = client.get(f"/api/v1/jobs/{job_id}", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["status_label"] == "Đang chờ" and r.json()["file_url"] is None
    r = client.get(f"/api/v1/jobs/{job_id}/file", headers=h)
    assert r.status_code == 404 and "chưa hoàn tất" in r.json()["detail"]

    R.JobRunner(database).run_once()
    out = client.get(f"/api/v1/jobs/{job_id}", headers=h).json()
    assert out["status"] == "done" and out["percent"] == 100 and out["file_url"] == f"/api/v1/jobs/{job_id}/file"
    r = client.get(out["file_url"], headers=h)
    assert r.status_code == 200 and r.content.decode() == "dòng 0\ndòng 1\n"
    assert "ket-qua.txt" in r.headers["content-disposition"]

    admin = login(client, "qtv")
    assert client.get(out["file_url"], headers=admin).status_code == 200
    for who in ("dongnghiep", "nguoi-b"):
        r = client.get(f"/api/v1/jobs/{job_id}", headers=login(client, who))
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"] == "Không tìm thấy tác vụ."
        assert client.get(out["file_url"], headers=login(client, who)).status_code == 404
    # the organization's manager counts as its administrator
    with database.session() as s:
        s.get(Organization, world.org_a).manager_id = people["peer"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=login(client, "dongnghiep")).status_code == 200
    assert client.get("/api/v1/jobs/khong-co", headers=h).status_code == 404
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401


def test_console_page_polls_every_second_until_done(client, database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a), n=2)
    h = login(client, "chu")
    page = client.get(f"/jobs/{job_id}?back=/reports%3Fview%3Dnew", headers=h)
    assert page.status_code == 200 and "Tác vụ thử" in page.text
    assert f'hx-get="/jobs/{job_id}/status"' in page.text and 'hx-trigger="every 1s"' in page.text
    assert 'href="/reports?view=new"' in page.text
    for evil in ("//evil.example", "/%5Cevil.example", "https://evil.example"):
        assert "evil.example" not in client.get(f"/jobs/{job_id}?back={evil}", headers=h).text
    R.JobRunner(database).run_once()
    frag = client.get(f"/jobs/{job_id}/status", headers=h)
    assert frag.status_code == 200 and "hx-trigger" not in frag.text and "Hoàn tất" in frag.text
    assert f'href="/jobs/{job_id}/file"' in frag.text
    r = client.get(f"/jobs/{job_id}/file", headers=h)
    assert r.status_code == 200 and r.content.startswith("dòng 0".encode())
    assert client.get(f"/jobs/{job_id}", headers=login(client, "dongnghiep")).status_code == 404
    anon = client.get(f"/jobs/{job_id}", headers={"Authorization": ""}, follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login")


def test_failed_job_page_shows_the_reason(client, database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a), fail="domain")
    R.JobRunner(database).run_once()
    frag = client.get(f"/jobs/{job_id}/status", headers=login(client, "chu"))
    assert "Thất bại" in frag.text and "Tham số không hợp lệ." in frag.text and "hx-trigger" not in frag.text


def test_runner_thread_runs_queued_jobs_and_stops(database, world, people):
    job_id = enqueue(database, principal(people["owner"], world.org_a), n=2)
    runner = R.JobRunner(database, poll_interval=0.05)
    runner.start()
    try:
        for _ in range(200):
            if load(database, job_id).status == "done":
                break
            time.sleep(0.05)
    finally:
        runner.stop()
    assert load(database, job_id).status == "done"
    assert runner._thread is None
