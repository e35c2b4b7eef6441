"""The worker helper, sync and async, taking jobs posted by another client.

These tests run on a server of their own, so that no job left posted by another test module
is in the backlog the worker picks up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

import j0
from j0 import J0Client
from j0_server import J0Server

from conftest import PROMO_CENTS, AsyncClientFactory, ClientFactory, serve

WAIT_SEC = 20.0


@pytest.fixture(scope="module")
def server() -> Iterator[J0Server]:
    """This module's own default server (overrides the session's)."""
    yield from serve({"J0_SIGNUP_PROMO_CENTS": str(PROMO_CENTS)})


def _wait_status(client: J0Client, job_id: int, status: str) -> j0.Job:
    deadline = time.monotonic() + WAIT_SEC
    while True:
        job = client.get_job(job_id)
        if job.status == status or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_worker_completes_a_job_posted_by_another_client(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    worker_id = worker.authenticate().id
    backlog = requester.post_job("gpt4-turbo", 10, 30, "already waiting")
    prompts: list[str] = []

    def handler(job: j0.Job) -> str:
        prompts.append(job.prompt)
        return job.prompt.upper()

    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(
        worker.work(["gpt4-turbo"], handler, max_jobs=2)), daemon=True)
    thread.start()
    time.sleep(1)
    live = requester.post_job("gpt4-turbo", 20, 30, "posted while listening " + "z" * 250)
    thread.join(WAIT_SEC)
    assert not thread.is_alive(), "work() did not return after max_jobs"
    assert outcome == [2]
    assert sorted(prompts) == sorted([backlog.prompt, live.prompt])  # full prompts, not previews
    for job in (backlog, live):
        done = requester.get_job(job.job_id)
        assert done.status == "completed" and done.worker_id == worker_id
        assert done.result == job.prompt.upper()
    assert worker.get_balance().cash_cents == 27


def test_worker_skips_own_jobs_and_submits_nothing_for_none(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    own = worker.post_job("sonnet", 5, 10, "mine")
    theirs = requester.post_job("sonnet", 5, 10, "give up on this")
    cheap = requester.post_job("sonnet", 5, 10, "too cheap")
    stop = threading.Event()
    handled: list[int] = []

    def handler(job: j0.Job) -> str | None:
        handled.append(job.job_id)
        stop.set()
        return None

    submitted = worker.work(["sonnet"], handler, stop=stop, min_credits=5, max_jobs=5)
    assert submitted == 0
    assert own.job_id not in handled and len(handled) == 1
    taken = requester.get_job(handled[0])
    assert taken.status == "accepted" and taken.result is None
    worker.cancel_job(own.job_id)
    for job in (theirs, cheap):
        if job.job_id not in handled:
            requester.cancel_job(job.job_id)
    assert _wait_status(requester, handled[0], "timeout").status == "timeout"
    assert requester.get_balance().total_cents == PROMO_CENTS


def test_worker_min_credits(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    cheap = requester.post_job("dall-e-3", 5, 10, "cheap")
    rich = requester.post_job("dall-e-3", 50, 10, "rich")
    taken: list[int] = []

    def handler(job: j0.Job) -> str:
        taken.append(job.job_id)
        return "drawn"

    assert worker.work(["dall-e-3"], handler, min_credits=40, max_jobs=1) == 1
    assert taken == [rich.job_id]
    assert requester.get_job(cheap.job_id).status == "posted"
    requester.cancel_job(cheap.job_id)


def test_handler_that_raises_submits_nothing(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    job = requester.post_job("opus", 10, 10, "explode")

    def handler(job: j0.Job) -> str:
        raise RuntimeError("model crashed")

    assert worker.work(["opus"], handler, max_jobs=1) == 0
    seen = requester.get_job(job.job_id)
    assert seen.status == "accepted" and seen.result is None


def test_too_long_result_is_not_submitted(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    job = requester.post_job("gpt4", 10, 10, "ramble")
    assert worker.work(["gpt4"], lambda job: "x" * 100_001, max_jobs=1) == 0
    seen = requester.get_job(job.job_id)
    assert seen.status == "accepted" and seen.result is None


async def test_async_worker_with_async_and_sync_handlers(
    make_async_client: AsyncClientFactory,
) -> None:
    requester, worker = make_async_client(), make_async_client()
    await worker.authenticate()

    async def async_handler(job: j0.Job) -> str:
        await asyncio.sleep(0.1)
        return f"async:{job.prompt}"

    task = asyncio.create_task(worker.work(["opus"], async_handler, max_jobs=2, concurrency=2))
    await asyncio.sleep(1)
    first = await requester.post_job("opus", 10, 30, "one")
    second = await requester.post_job("opus", 10, 30, "two")
    assert await asyncio.wait_for(task, WAIT_SEC) == 2
    for job in (first, second):
        seen = await requester.get_job(job.job_id)
        assert seen.status == "completed" and seen.result == f"async:{job.prompt}"

    stop = asyncio.Event()

    def sync_handler(job: j0.Job) -> str:
        return f"sync:{job.prompt}"

    third = await requester.post_job("opus", 10, 30, "three")
    assert await asyncio.wait_for(
        worker.work(["opus"], sync_handler, max_jobs=1, stop=stop), WAIT_SEC) == 1
    assert (await requester.get_job(third.job_id)).result == "sync:three"
    assert (await worker.get_balance()).cash_cents == 27


async def test_async_worker_stops_on_event(make_async_client: AsyncClientFactory) -> None:
    worker = make_async_client()
    stop = asyncio.Event()

    async def handler(job: j0.Job) -> str:
        return "never"

    task = asyncio.create_task(worker.work(["dall-e-3"], handler, stop=stop, min_credits=101))
    await asyncio.sleep(1)
    assert not task.done()
    stop.set()
    assert await asyncio.wait_for(task, WAIT_SEC) == 0
