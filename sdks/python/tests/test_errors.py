"""Every error class, produced by a real refusal of a real server.

``INTERNAL_ERROR`` and ``CHALLENGE_EXPIRED`` cannot be provoked cheaply from outside (the
first needs a server bug, the second a 61 s wait); their mapping is pinned in test_unit.py.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

import j0
from j0 import J0Client
from j0._base import Call, Calls
from j0._errors import error_from_response
from j0_server import J0Server

from conftest import ClientFactory, free_port, new_key


def _posted(client: J0Client, credits: int = 10, timeout: int = 30) -> j0.Job:
    return client.post_job(capability="opus", credits=credits, timeout=timeout, prompt="task")


def test_unauthorized(server: J0Server) -> None:
    with J0Client(token="not-a-jwt", base_url=server.base_url) as client:
        with pytest.raises(j0.Unauthorized) as caught:
            client.me()
    assert caught.value.status == 401 and caught.value.code == "UNAUTHORIZED"


def test_sign_in_refusals(make_client: ClientFactory) -> None:
    client = make_client()
    session = client._session
    challenge = client._send(session.challenge_call())
    nonce = challenge["challenge"]["nonce"]
    assert client.address is not None
    with pytest.raises(j0.InvalidSignature) as bad:
        client._send(Calls.verify(client.address, nonce, "0x" + "11" * 65))
    assert bad.value.status == 401
    with pytest.raises(j0.ChallengeNotFound):
        client._send(Calls.verify(client.address, "ab" * 16, "0x" + "11" * 65))
    client._send(session.verify_call(challenge))
    with pytest.raises(j0.ChallengeUsed):
        client._send(session.verify_call(challenge))


def test_permission_denied(make_client: ClientFactory) -> None:
    requester, worker, other = make_client(), make_client(), make_client()
    job = _posted(requester)
    with pytest.raises(j0.OwnJob) as own:
        requester.accept_job(job.job_id)
    assert own.value.status == 403 and isinstance(own.value, j0.PermissionDenied)
    with pytest.raises(j0.NotTheRequester):
        other.cancel_job(job.job_id)
    worker.accept_job(job.job_id)
    with pytest.raises(j0.NotTheWorker):
        other.complete_job(job.job_id, "mine")
    worker.complete_job(job.job_id, "done")


def test_not_found(make_client: ClientFactory, server: J0Server) -> None:
    client = make_client()
    with pytest.raises(j0.JobNotFound) as job:
        client.get_job(10**15)
    assert job.value.status == 404 and isinstance(job.value, j0.NotFound)
    with pytest.raises(j0.UserNotFound):
        client.user(10**15)
    wrong = make_client(base_url=server.base_url.replace("/api/v1", "/api/v2"))
    with pytest.raises(j0.NotFound) as route:
        wrong.me()
    assert type(route.value) is j0.NotFound and route.value.code == "NOT_FOUND"


def test_server_side_validation(make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(j0.ValidationError) as caught:
        client.post_job(capability="opus", credits=10, timeout=30, prompt="")
    assert caught.value.status == 400 and "prompt" in caught.value.message


def test_insufficient_credits(make_client: ClientFactory) -> None:
    client = make_client()
    for _ in range(10):
        _posted(client, credits=100)
    with pytest.raises(j0.InsufficientCredits) as caught:
        _posted(client, credits=100)
    assert (caught.value.have, caught.value.need) == (0, 100)
    for job in client.list_jobs(requester_id=client.me().id):
        client.cancel_job(job.job_id)


def test_job_state_refusals(make_client: ClientFactory) -> None:
    requester, worker, late = make_client(), make_client(), make_client()
    job = _posted(requester)
    with pytest.raises(j0.JobNotAccepted):
        worker.complete_job(job.job_id, "too early")
    worker.accept_job(job.job_id)
    with pytest.raises(j0.JobAlreadyAccepted) as taken:
        late.accept_job(job.job_id)
    assert taken.value.message == "Job already accepted by another worker"
    with pytest.raises(j0.JobAlreadyAccepted):
        requester.cancel_job(job.job_id)
    worker.complete_job(job.job_id, "done")

    gone = _posted(requester)
    requester.cancel_job(gone.job_id)
    with pytest.raises(j0.JobNotAvailable):
        requester.cancel_job(gone.job_id)
    with pytest.raises(j0.JobNotAvailable):
        worker.accept_job(gone.job_id)


def test_timeout_expired(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    job = _posted(requester, timeout=10)
    worker.accept_job(job.job_id)
    time.sleep(11)
    with pytest.raises(j0.TimeoutExpired) as caught:
        worker.complete_job(job.job_id, "late")
    assert caught.value.message == "Job timeout expired"


def test_job_expired(short_server: J0Server) -> None:
    with J0Client(new_key(), base_url=short_server.base_url) as requester, \
            J0Client(new_key(), base_url=short_server.base_url) as worker:
        job = _posted(requester)
        time.sleep(4)  # the acceptance window of this server is 3 s
        with pytest.raises(j0.JobExpired):
            worker.accept_job(job.job_id)
        with pytest.raises(j0.JobNotAvailable):
            requester.cancel_job(job.job_id)


def test_too_many_open_jobs(short_server: J0Server) -> None:
    with J0Client(new_key(), base_url=short_server.base_url) as requester, \
            J0Client(new_key(), base_url=short_server.base_url) as worker:
        jobs = [_posted(requester) for _ in range(3)]
        worker.accept_job(jobs[0].job_id)
        worker.accept_job(jobs[1].job_id)
        with pytest.raises(j0.TooManyOpenJobs) as caught:
            worker.accept_job(jobs[2].job_id)
        assert caught.value.status == 400
        assert requester.get_job(jobs[2].job_id).status == "posted"
        worker.complete_job(jobs[0].job_id, "one")
        worker.accept_job(jobs[2].job_id)
        worker.complete_job(jobs[1].job_id, "two")
        worker.complete_job(jobs[2].job_id, "three")


def test_idempotency_key_reused(make_client: ClientFactory) -> None:
    client = make_client()
    key = str(uuid.uuid4())
    client.post_job("opus", 10, 30, "first", idempotency_key=key)
    with pytest.raises(j0.IdempotencyKeyReused):
        client.post_job("opus", 10, 30, "second", idempotency_key=key)


def test_payments_refusals(make_client: ClientFactory, short_server: J0Server) -> None:
    client = make_client(max_retries=0)
    with pytest.raises(j0.InvalidAmount):
        client.buy_credits(7)
    with pytest.raises(j0.PaymentsUnavailable) as unconfigured:
        client.buy_credits(10)
    assert unconfigured.value.status == 503
    with J0Client(new_key(), base_url=short_server.base_url, max_retries=0) as stripe_down:
        with pytest.raises(j0.PaymentsUnavailable):
            stripe_down.buy_credits(10)


def test_payload_too_large(make_client: ClientFactory) -> None:
    requester, worker = make_client(), make_client()
    with pytest.raises(j0.PayloadTooLarge) as prompt:
        requester.post_job("opus", 10, 30, "x" * (300 * 1024))
    assert prompt.value.status == 413
    job = _posted(requester)
    worker.accept_job(job.job_id)
    with pytest.raises(j0.PayloadTooLarge):
        worker.complete_job(job.job_id, "y" * (2 * 1024 * 1024 + 1))
    worker.complete_job(job.job_id, "fits")


def test_method_not_allowed(make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(j0.MethodNotAllowed) as caught:
        client._send(Call("DELETE", "/jobs", lambda body: body))
    assert caught.value.status == 405


def test_unsupported_media_type_and_webhook_signature(short_server: J0Server) -> None:
    # The SDK always sends JSON and has no webhook method: these answers come from raw
    # requests and go through the SDK's error mapping.
    with J0Client(new_key(), base_url=short_server.base_url) as client:
        client.authenticate()
        token = client.token
    answer = httpx.post(f"{short_server.base_url}/jobs", content="x",
                        headers={"Content-Type": "text/plain",
                                 "Authorization": f"Bearer {token}"})
    media = error_from_response(answer.status_code, answer.json())
    assert type(media) is j0.UnsupportedMediaType and media.status == 415
    answer = httpx.post(f"{short_server.base_url}/payments/stripe/webhook", content=b"{}",
                        headers={"Stripe-Signature": "t=1,v1=00",
                                 "Content-Type": "application/json"})
    webhook = error_from_response(answer.status_code, answer.json())
    assert type(webhook) is j0.InvalidWebhookSignature and webhook.status == 400


def test_service_unavailable() -> None:
    broken = J0Server().start()
    if broken.database is None:
        broken.stop()
        pytest.skip("cutting the database off needs an external PostgreSQL")
    try:
        with J0Client(new_key(), base_url=broken.base_url, max_retries=0) as client:
            client.authenticate()
            broken.cut_off_database()
            with pytest.raises(j0.ServiceUnavailable) as caught:
                client.get_balance()
            assert caught.value.status == 503
    finally:
        broken.stop()


def test_connection_error() -> None:
    with J0Client(new_key(), base_url=f"http://127.0.0.1:{free_port()}/api/v1",
                  max_retries=1) as client:
        with pytest.raises(j0.APIConnectionError) as caught:
            client.authenticate()
    assert caught.value.status is None and caught.value.code is None
