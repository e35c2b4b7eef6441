"""Retries: 429s waited out, lost answers retried without doing anything twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

import j0
from j0 import AsyncJ0Client, J0Client
from j0_server import J0Server

from conftest import PROMO_CENTS, new_key
from proxies import LoseAnswerProxy


def _burn(server: J0Server, token: str | None) -> None:
    """Spend the user's whole rate budget with raw requests, until the server says 429."""
    with httpx.Client(base_url=server.base_url,
                      headers={"Authorization": f"Bearer {token}"}) as raw:
        for _ in range(500):
            if raw.get("/credits/balance").status_code == 429:
                return
    raise AssertionError("the rate limit never answered 429")


def test_rate_limit_is_waited_out(limited_server: J0Server) -> None:
    with J0Client(new_key(), base_url=limited_server.base_url, max_retries=2) as client:
        client.authenticate()
        _burn(limited_server, client.token)
        assert client.get_balance().total_cents == PROMO_CENTS


def test_rate_limit_without_retries_raises(limited_server: J0Server) -> None:
    with J0Client(new_key(), base_url=limited_server.base_url, max_retries=0) as client:
        client.authenticate()
        _burn(limited_server, client.token)
        with pytest.raises(j0.RateLimited) as caught:
            client.get_balance()
    assert caught.value.status == 429 and caught.value.code == "RATE_LIMITED"
    assert isinstance(caught.value.retry_after, int) and caught.value.retry_after >= 1


ProxyFactory = Callable[..., LoseAnswerProxy]


@pytest.fixture
def proxy_factory(server: J0Server) -> Iterator[ProxyFactory]:
    """``proxy_factory(*prefixes)``: a proxy to the server losing those requests' answers."""
    made: list[LoseAnswerProxy] = []

    def make(*prefixes: bytes) -> LoseAnswerProxy:
        proxy = LoseAnswerProxy(server.addr, *prefixes)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def test_post_retried_after_a_lost_answer_posts_once(
    server: J0Server, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(b"POST /api/v1/jobs ")
    with J0Client(new_key(), base_url=proxy.base_url()) as client:
        me = client.authenticate()
        job = client.post_job(capability="opus", credits=10, timeout=30, prompt="once")
        assert len(proxy.lost) == 1
        assert [j.job_id for j in client.list_jobs(requester_id=me.id)] == [job.job_id]
        assert client.get_balance().total_cents == PROMO_CENTS - 10
        assert [t.type for t in client.transactions()] == ["job_post", "promo"]


async def test_async_post_retried_after_a_lost_answer_posts_once(
    server: J0Server, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(b"POST /api/v1/jobs ")
    async with AsyncJ0Client(new_key(), base_url=proxy.base_url()) as client:
        me = await client.authenticate()
        job = await client.post_job(capability="opus", credits=10, timeout=30, prompt="once")
        assert len(proxy.lost) == 1
        assert [j.job_id for j in await client.list_jobs(requester_id=me.id)] == [job.job_id]
        assert (await client.get_balance()).total_cents == PROMO_CENTS - 10


def test_lost_answers_of_accept_complete_and_cancel_are_recovered(
    server: J0Server, proxy_factory: ProxyFactory
) -> None:
    with J0Client(new_key(), base_url=server.base_url) as requester:
        job = requester.post_job("opus", 10, 30, "work")
        doomed = requester.post_job("opus", 10, 30, "cancel me")
        proxy = proxy_factory(f"POST /api/v1/jobs/{job.job_id}/accept ".encode(),
                              f"POST /api/v1/jobs/{job.job_id}/complete ".encode())
        with J0Client(new_key(), base_url=proxy.base_url()) as worker:
            me = worker.authenticate()
            accepted = worker.accept_job(job.job_id)
            assert len(proxy.lost) == 1
            assert accepted.worker_id == me.id and accepted.status == "accepted"
            done = worker.complete_job(job.job_id, "result")
            assert len(proxy.lost) == 2
            assert done.credits_earned == 9 and done.job.status == "completed"
            assert worker.get_balance().cash_cents == 9
        cancel = proxy_factory(f"POST /api/v1/jobs/{doomed.job_id}/cancel ".encode())
        with J0Client(token=requester.token, base_url=cancel.base_url()) as via_proxy:
            cancelled = via_proxy.cancel_job(doomed.job_id)
            assert len(cancel.lost) == 1
            assert cancelled.credits_refunded == 10 and cancelled.job.status == "cancelled"
        assert requester.get_balance().total_cents == PROMO_CENTS - 10


def test_first_attempt_refusal_is_not_taken_for_success(
    server: J0Server, proxy_factory: ProxyFactory
) -> None:
    with J0Client(new_key(), base_url=server.base_url) as requester, \
            J0Client(new_key(), base_url=server.base_url) as first:
        job = requester.post_job("opus", 10, 30, "raced")
        first.accept_job(job.job_id)
        proxy = proxy_factory(b"never matches")
        with J0Client(new_key(), base_url=proxy.base_url()) as second:
            with pytest.raises(j0.JobAlreadyAccepted):
                second.accept_job(job.job_id)
        first.complete_job(job.job_id, "done")


def test_lost_answer_without_retries_is_a_connection_error(
    server: J0Server, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(b"GET /api/v1/credits/balance ")
    with J0Client(new_key(), base_url=proxy.base_url(), max_retries=0) as client:
        with pytest.raises(j0.APIConnectionError):
            client.get_balance()
        assert client.get_balance().total_cents == PROMO_CENTS
