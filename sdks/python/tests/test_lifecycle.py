"""Requester and worker through a whole job, on the sync and the async client."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

import j0
from j0 import AsyncJ0Client, J0Client
from j0_server import J0Server

from conftest import PROMO_CENTS, AsyncClientFactory, ClientFactory


def test_authenticate_returns_the_user(make_client: ClientFactory) -> None:
    client = make_client()
    user = client.authenticate()
    assert isinstance(user, j0.User)
    assert user.public_key == client.address
    assert user.identity_type == "ethereum_wallet" and user.reputation_score == 0.0
    assert user.created_at.tzinfo is not None
    assert client.me() == user
    public = client.user(user.id)
    assert (public.id, public.public_key) == (user.id, user.public_key)


def test_first_call_signs_in_by_itself(make_client: ClientFactory) -> None:
    client = make_client()
    assert client.token is None
    assert client.get_balance() == j0.Balance(cash_cents=0, promo_cents=PROMO_CENTS,
                                              total_cents=PROMO_CENTS)
    assert client.token is not None


def test_full_lifecycle(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    requester_id, worker_id = requester.authenticate().id, worker.authenticate().id
    prompt = "Summarize: " + "x" * 300

    posted = requester.post_job(capability="opus", credits=10, timeout=30, prompt=prompt)
    assert posted.status == "posted" and posted.requester_id == requester_id
    assert posted.worker_id is None and posted.result is None
    assert posted.expires_at > datetime.now(timezone.utc)

    listed = worker.list_jobs(status="posted", capability="opus", requester_id=requester_id)
    assert [j.job_id for j in listed] == [posted.job_id]
    preview = worker.get_job(posted.job_id)
    assert preview.prompt == prompt[:200] and preview.prompt_truncated

    accepted = worker.accept_job(posted.job_id)
    assert accepted.status == "accepted" and accepted.worker_id == worker_id
    assert accepted.prompt == prompt and not accepted.prompt_truncated
    assert accepted.accepted_at is not None

    completed = worker.complete_job(posted.job_id, "the summary")
    assert completed.credits_earned == 9
    assert completed.job.status == "completed" and completed.job.result == "the summary"

    seen = requester.get_job(posted.job_id)
    assert seen.status == "completed" and seen.result == "the summary"
    assert requester.list_jobs(worker_id=worker_id)[0].job_id == posted.job_id
    assert requester.get_balance().total_cents == PROMO_CENTS - 10
    assert worker.get_balance() == j0.Balance(cash_cents=9, promo_cents=PROMO_CENTS,
                                              total_cents=PROMO_CENTS + 9)
    history = worker.transactions()
    assert history[0].type == "job_earn" and history[0].amount_cents == 9
    assert history[0].description == f"Completed job #{posted.job_id}"
    assert requester.transactions(limit=1)[0].type == "job_post"


def test_cancel_refunds(make_client: ClientFactory) -> None:
    client = make_client()
    job = client.post_job(capability="sonnet", credits=25, timeout=20, prompt="p")
    assert client.get_balance().total_cents == PROMO_CENTS - 25
    cancelled = client.cancel_job(job.job_id)
    assert cancelled.credits_refunded == 25 and cancelled.job.status == "cancelled"
    assert client.get_balance().total_cents == PROMO_CENTS
    assert client.transactions()[0].description == f"Refund for job #{job.job_id} (cancelled)"


def test_idempotency_key_posts_once(make_client: ClientFactory) -> None:
    client = make_client()
    first = client.post_job("opus", 10, 30, "same", idempotency_key="key-1")
    again = client.post_job("opus", 10, 30, "same", idempotency_key="key-1")
    assert first.job_id == again.job_id
    assert client.get_balance().total_cents == PROMO_CENTS - 10


def test_paging_follows_before(make_client: ClientFactory) -> None:
    client = make_client()
    me = client.authenticate()
    posted = [client.post_job("gpt4", 5, 10, f"job {n}").job_id for n in range(120)]
    page = client.list_jobs(requester_id=me.id, limit=50)
    assert [j.job_id for j in page] == sorted(posted, reverse=True)[:50]
    second = client.list_jobs(requester_id=me.id, limit=50, before=page[-1].job_id)
    assert [j.job_id for j in second] == sorted(posted, reverse=True)[50:100]
    every = [j.job_id for j in client.iter_jobs(requester_id=me.id, page_size=50)]
    assert every == sorted(posted, reverse=True)
    rows = list(client.iter_transactions(page_size=50))
    assert len(rows) == 121 and rows[-1].type == "promo"
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    for job_id in posted:
        client.cancel_job(job_id)
    assert client.get_balance().total_cents == PROMO_CENTS


def test_payments_endpoints(make_client: ClientFactory) -> None:
    client = make_client()
    address = client.deposit_address()
    assert address.network == "Base L2" and address.token == "USDC"
    assert address.address.startswith("0x") and len(address.address) == 42
    assert client.deposit_address() == address


def test_logout_then_next_call_signs_in_again(make_client: ClientFactory) -> None:
    client = make_client()
    client.authenticate()
    old = client.token
    client.logout()
    assert client.token is None
    with J0Client(token=old, base_url=client.base_url, max_retries=0) as stale:
        with pytest.raises(j0.Unauthorized):
            stale.me()
    assert client.me().public_key == client.address
    assert client.token not in (None, old)


def test_revoked_token_is_replaced_after_a_401(make_client: ClientFactory,
                                               server: J0Server) -> None:
    client = make_client()
    client.authenticate()
    revoked = client.token
    answer = httpx.post(f"{server.base_url}/auth/logout",
                        headers={"Authorization": f"Bearer {revoked}"})
    assert answer.json() == {"logged_out": True}
    # The client still holds the revoked token: its call gets a 401, signs in again, retries.
    assert client.get_balance().total_cents == PROMO_CENTS
    assert client.token not in (None, revoked)


def test_token_only_client(make_client: ClientFactory, server: J0Server) -> None:
    client = make_client()
    user = client.authenticate()
    with J0Client(token=client.token, base_url=server.base_url) as borrowed:
        assert borrowed.address is None
        assert borrowed.me().id == user.id
    with J0Client(base_url=server.base_url) as anonymous:
        assert anonymous.user(user.id).id == user.id
        with pytest.raises(j0.Unauthorized):
            anonymous.me()


async def test_async_lifecycle(make_async_client: AsyncClientFactory) -> None:
    requester, worker = make_async_client(), make_async_client()
    await requester.authenticate()
    posted = await requester.post_job(capability="opus", credits=10, timeout=30, prompt="hello")
    listed = [j.job_id async for j in worker.iter_jobs(status="posted", page_size=100)]
    assert posted.job_id in listed
    accepted = await worker.accept_job(posted.job_id)
    assert accepted.prompt == "hello"
    done = await worker.complete_job(posted.job_id, "world")
    assert done.credits_earned == 9
    assert (await requester.get_job(posted.job_id)).result == "world"
    assert (await requester.get_balance()).total_cents == PROMO_CENTS - 10
    assert (await worker.get_balance()).cash_cents == 9
    rows = [r async for r in worker.iter_transactions(page_size=1)]
    assert [r.type for r in rows] == ["job_earn", "promo"]
    await worker.logout()
    assert worker.token is None
    assert (await worker.me()).public_key == worker.address


async def test_async_context_manager(server: J0Server) -> None:
    from conftest import new_key

    async with AsyncJ0Client(new_key(), base_url=server.base_url) as client:
        user = await client.authenticate()
        assert (await client.user(user.id)).public_key == user.public_key
        cancelled = await client.cancel_job(
            (await client.post_job("dall-e-3", 5, 10, "draw")).job_id)
        assert cancelled.credits_refunded == 5
    assert client._http.is_closed
