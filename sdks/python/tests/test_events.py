"""The WebSocket event stream, sync and async: delivery, resume with since, reconnects."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import j0
from j0 import AsyncJ0Client, EventStream, J0Client
from j0_server import J0Server

from conftest import AsyncClientFactory, ClientFactory, new_key
from proxies import PipeProxy

WAIT_SEC = 15.0


class Collector:
    """Iterates a stream in a thread, as a user's loop would, and lets the test wait."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self.events: list[j0.Event] = []
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self.stream:
                with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except BaseException as exc:  # surfaced by wait_for
            self.error = exc

    def wait_for(self, done: Callable[[list[j0.Event]], bool]) -> list[j0.Event]:
        deadline = time.monotonic() + WAIT_SEC
        with self._changed:
            while not done(self.events):
                assert self.error is None, self.error
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; got {[(e.id, e.event) for e in self.events]}"
                self._changed.wait(left)
            return list(self.events)

    def stop(self) -> None:
        self.stream.close()
        self._thread.join(WAIT_SEC)
        assert not self._thread.is_alive(), "close() did not end the iteration"


def _of_job(events: list[j0.Event], job_id: int) -> list[str]:
    return [e.event for e in events
            if isinstance(e.data, j0.Job) and e.data.job_id == job_id]


def test_requester_sees_accept_and_complete(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    requester.authenticate()
    with requester.events() as stream:
        collector = Collector(stream)
        job = requester.post_job("opus", 10, 30, "watch me")
        worker.accept_job(job.job_id)
        worker.complete_job(job.job_id, "watched")
        events = collector.wait_for(lambda evs: "job.completed" in _of_job(evs, job.job_id))
        collector.stop()
    assert _of_job(events, job.job_id) == ["job.posted", "job.accepted", "job.completed"]
    completed = next(e for e in events if e.event == "job.completed")
    assert completed.job.result == "watched" and completed.timestamp is not None
    balances = [e.balance for e in events if e.event == "balance.updated"]
    assert balances[-1].total_cents == 1000 - 10
    ids = [e.id for e in events]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(set(ids))  # type: ignore[type-var]


def test_worker_copy_of_completion_carries_credits_earned(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    job = requester.post_job("sonnet", 20, 30, "pay me")
    worker.accept_job(job.job_id)
    with worker.events() as stream:
        collector = Collector(stream)
        worker.complete_job(job.job_id, "paid")
        events = collector.wait_for(lambda evs: "job.completed" in _of_job(evs, job.job_id))
        collector.stop()
    earned = next(e for e in events if e.event == "job.completed").data
    assert isinstance(earned, j0.EarnedJob) and earned.credits_earned == 18


def test_since_replays_without_duplicates(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    requester.authenticate()
    with requester.events(capabilities=["gpt4"]) as stream:
        collector = Collector(stream)
        job = requester.post_job("gpt4", 10, 30, "replay me")
        worker.accept_job(job.job_id)
        first = collector.wait_for(lambda evs: "job.accepted" in _of_job(evs, job.job_id))
        collector.stop()
    start = first[0].id
    assert start is not None
    with requester.events(since=start - 1) as replay:
        collector = Collector(replay)
        worker.complete_job(job.job_id, "done")
        again = collector.wait_for(lambda evs: "job.completed" in _of_job(evs, job.job_id))
        collector.stop()
    assert [e.id for e in again[:len(first)]] == [e.id for e in first]
    assert _of_job(again, job.job_id) == ["job.posted", "job.accepted", "job.completed"]


def test_subscription_narrows_job_posted(make_client: ClientFactory) -> None:
    watcher, poster = make_client(), make_client()
    with watcher.events(capabilities=["dall-e-3"]) as stream:
        collector = Collector(stream)
        skipped = poster.post_job("opus", 5, 10, "not for you")
        wanted = poster.post_job("dall-e-3", 5, 10, "for you")
        events = collector.wait_for(lambda evs: bool(_of_job(evs, wanted.job_id)))
        collector.stop()
    assert not _of_job(events, skipped.job_id)
    poster.cancel_job(skipped.job_id)
    poster.cancel_job(wanted.job_id)


def test_reconnects_and_resumes_after_a_dropped_connection(
    server: J0Server, make_client: ClientFactory
) -> None:
    proxy = PipeProxy(server.addr)
    requester = make_client(ws_url=proxy.ws_url())
    worker = make_client()
    requester.authenticate()
    try:
        with requester.events() as stream:
            collector = Collector(stream)
            job = requester.post_job("opus", 10, 30, "survive")
            collector.wait_for(lambda evs: "job.posted" in _of_job(evs, job.job_id))
            proxy.drop_all()
            worker.accept_job(job.job_id)  # may happen while the stream is down
            worker.complete_job(job.job_id, "survived")
            events = collector.wait_for(
                lambda evs: "job.completed" in _of_job(evs, job.job_id))
            collector.stop()
    finally:
        proxy.close()
    assert proxy.connections >= 2
    assert _of_job(events, job.job_id) == ["job.posted", "job.accepted", "job.completed"]
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)  # type: ignore[type-var]


def test_stream_resigns_when_its_token_was_revoked(make_client: ClientFactory) -> None:
    client = make_client()
    client.authenticate()
    revoked = client.token
    with J0Client(token=revoked, base_url=client.base_url) as other:
        other.logout()
    with client.events() as stream:
        assert client.token not in (None, revoked)
        stream.close()


async def test_async_stream(make_async_client: AsyncClientFactory) -> None:
    requester, worker = make_async_client(), make_async_client()
    await requester.authenticate()
    seen: list[j0.Event] = []
    async with requester.events() as stream:
        job = await requester.post_job("opus", 10, 30, "async watch")
        await worker.accept_job(job.job_id)
        await worker.complete_job(job.job_id, "async done")

        async def read_until_completed() -> None:
            async for event in stream:
                seen.append(event)
                if "job.completed" in _of_job(seen, job.job_id):
                    return

        await asyncio.wait_for(read_until_completed(), WAIT_SEC)
    assert _of_job(seen, job.job_id) == ["job.posted", "job.accepted", "job.completed"]
    assert stream.last_id == seen[-1].id


async def test_async_stream_reconnects(server: J0Server) -> None:
    proxy = PipeProxy(server.addr)
    try:
        async with AsyncJ0Client(new_key(), base_url=server.base_url,
                                 ws_url=proxy.ws_url()) as requester, \
                AsyncJ0Client(new_key(), base_url=server.base_url) as worker:
            await requester.authenticate()
            stream = requester.events()
            seen: list[j0.Event] = []

            async def next_of_job(job_id: int) -> j0.Event:
                while True:
                    event = await asyncio.wait_for(stream.__anext__(), WAIT_SEC)
                    seen.append(event)
                    if _of_job([event], job_id):
                        return event

            await stream.connect()
            job = await requester.post_job("opus", 10, 30, "async survive")
            assert (await next_of_job(job.job_id)).event == "job.posted"
            proxy.drop_all()
            await worker.accept_job(job.job_id)
            assert (await next_of_job(job.job_id)).event == "job.accepted"
            await worker.complete_job(job.job_id, "ok")
            assert (await next_of_job(job.job_id)).event == "job.completed"
            await stream.aclose()
    finally:
        proxy.close()
    assert proxy.connections >= 2
    ids = [e.id for e in seen]
    assert len(ids) == len(set(ids))
