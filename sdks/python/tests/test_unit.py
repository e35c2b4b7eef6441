"""Pure logic: URL derivation, the error table, SDK-side validation, the event cursor."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hatch_build import unasync

import j0
import j0._async_client
import j0._client
from j0 import J0Client, derive_ws_url
from j0._base import StreamCursor, backoff_delay, resolve_base_url
from j0._errors import ERROR_CLASSES, error_from_response
from j0._models import Job, parse_timestamp

from conftest import free_port, new_key


def test_ws_url_is_derived_from_the_base_url() -> None:
    assert derive_ws_url("http://127.0.0.1:8080/api/v1") == "ws://127.0.0.1:8080/ws"
    assert derive_ws_url("https://j0.com/api/v1/") == "wss://j0.com/ws"
    assert derive_ws_url("https://example.com/j0") == "wss://example.com/j0/ws"


def test_base_url_comes_from_the_option_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("J0_BASE_URL", raising=False)
    assert resolve_base_url(None) == "https://j0.com/api/v1"
    monkeypatch.setenv("J0_BASE_URL", "http://127.0.0.1:9/api/v1/")
    assert resolve_base_url(None) == "http://127.0.0.1:9/api/v1"
    assert resolve_base_url("http://other/api/v1") == "http://other/api/v1"
    client = J0Client(new_key())
    assert client.ws_url == "ws://127.0.0.1:9/ws"
    explicit = J0Client(new_key(), ws_url="ws://elsewhere/ws")
    assert explicit.ws_url == "ws://elsewhere/ws"
    client.close()
    explicit.close()


def test_the_sync_client_is_generated_from_the_asyncio_one() -> None:
    """What is imported as ``j0._client`` is current: reinstall after editing the asyncio one."""
    source = Path(j0._async_client.__file__).read_text(encoding="utf-8")
    assert Path(j0._client.__file__).read_text(encoding="utf-8") == unasync(source)


def test_constructor_makes_no_request() -> None:
    with J0Client(new_key(), base_url=f"http://127.0.0.1:{free_port()}/api/v1") as client:
        assert client.token is None


def test_backoff_is_capped() -> None:
    assert all(0 <= backoff_delay(n) <= 8 for n in range(20))
    assert all(backoff_delay(0) <= 0.5 for _ in range(50))


EXPECTED_CLASSES = {
    "UNAUTHORIZED": (j0.Unauthorized, j0.AuthenticationError),
    "INVALID_SIGNATURE": (j0.InvalidSignature, j0.AuthenticationError),
    "CHALLENGE_NOT_FOUND": (j0.ChallengeNotFound, j0.AuthenticationError),
    "CHALLENGE_EXPIRED": (j0.ChallengeExpired, j0.AuthenticationError),
    "CHALLENGE_USED": (j0.ChallengeUsed, j0.AuthenticationError),
    "OWN_JOB": (j0.OwnJob, j0.PermissionDenied),
    "NOT_THE_WORKER": (j0.NotTheWorker, j0.PermissionDenied),
    "NOT_THE_REQUESTER": (j0.NotTheRequester, j0.PermissionDenied),
    "NOT_FOUND": (j0.NotFound, j0.NotFound),
    "JOB_NOT_FOUND": (j0.JobNotFound, j0.NotFound),
    "USER_NOT_FOUND": (j0.UserNotFound, j0.NotFound),
    "VALIDATION_ERROR": (j0.ValidationError, j0.J0Error),
    "INSUFFICIENT_CREDITS": (j0.InsufficientCredits, j0.J0Error),
    "JOB_ALREADY_ACCEPTED": (j0.JobAlreadyAccepted, j0.J0Error),
    "JOB_EXPIRED": (j0.JobExpired, j0.J0Error),
    "JOB_NOT_AVAILABLE": (j0.JobNotAvailable, j0.J0Error),
    "JOB_NOT_ACCEPTED": (j0.JobNotAccepted, j0.J0Error),
    "TIMEOUT_EXPIRED": (j0.TimeoutExpired, j0.J0Error),
    "TOO_MANY_OPEN_JOBS": (j0.TooManyOpenJobs, j0.J0Error),
    "IDEMPOTENCY_KEY_REUSED": (j0.IdempotencyKeyReused, j0.J0Error),
    "INVALID_AMOUNT": (j0.InvalidAmount, j0.J0Error),
    "INVALID_WEBHOOK_SIGNATURE": (j0.InvalidWebhookSignature, j0.J0Error),
    "UNSUPPORTED_MEDIA_TYPE": (j0.UnsupportedMediaType, j0.J0Error),
    "METHOD_NOT_ALLOWED": (j0.MethodNotAllowed, j0.J0Error),
    "PAYLOAD_TOO_LARGE": (j0.PayloadTooLarge, j0.J0Error),
    "RATE_LIMITED": (j0.RateLimited, j0.J0Error),
    "PAYMENTS_UNAVAILABLE": (j0.PaymentsUnavailable, j0.J0Error),
    "SERVICE_UNAVAILABLE": (j0.ServiceUnavailable, j0.J0Error),
    "INTERNAL_ERROR": (j0.InternalServerError, j0.J0Error),
}


def test_every_code_has_its_class() -> None:
    assert set(ERROR_CLASSES) == set(EXPECTED_CLASSES)
    for code, (cls, base) in EXPECTED_CLASSES.items():
        error = error_from_response(400, {"error": "msg", "code": code})
        assert type(error) is cls, code
        assert isinstance(error, base) and isinstance(error, j0.J0Error)
        assert (error.status, error.code, error.message) == (400, code, "msg")


def test_internal_error_and_expired_challenge_map_from_their_wire_answers() -> None:
    """The server cannot be made to answer these from outside; their mapping is pinned here."""
    internal = error_from_response(500, {"error": "Internal server error", "code": "INTERNAL_ERROR"})
    assert isinstance(internal, j0.InternalServerError) and internal.status == 500
    expired = error_from_response(401, {"error": "Challenge expired", "code": "CHALLENGE_EXPIRED"})
    assert isinstance(expired, j0.ChallengeExpired)
    assert isinstance(expired, j0.AuthenticationError)


def test_unknown_code_and_non_envelope_bodies() -> None:
    unknown = error_from_response(418, {"error": "teapot", "code": "I_AM_A_TEAPOT"})
    assert type(unknown) is j0.J0Error
    assert (unknown.status, unknown.code, unknown.message) == (418, "I_AM_A_TEAPOT", "teapot")
    garbage = error_from_response(502, None)
    assert type(garbage) is j0.J0Error and garbage.code is None and garbage.status == 502


def test_rate_limited_takes_retry_after_from_body_then_header() -> None:
    body = {"error": "Rate limit exceeded", "code": "RATE_LIMITED", "retry_after": 7}
    from_body = error_from_response(429, body, "3")
    assert isinstance(from_body, j0.RateLimited) and from_body.retry_after == 7
    from_header = error_from_response(429, {"error": "x", "code": "RATE_LIMITED"}, "3")
    assert isinstance(from_header, j0.RateLimited) and from_header.retry_after == 3
    bare = error_from_response(429, None, "5")
    assert isinstance(bare, j0.RateLimited) and bare.retry_after == 5


def test_insufficient_credits_parses_have_and_need() -> None:
    error = error_from_response(
        400, {"error": "Insufficient credits: have 5, need 10", "code": "INSUFFICIENT_CREDITS"})
    assert isinstance(error, j0.InsufficientCredits)
    assert (error.have, error.need) == (5, 10)


@pytest.mark.parametrize(
    "arguments",
    [
        {"capability": "gpt5", "credits": 10, "timeout": 30, "prompt": "x"},
        {"capability": "opus", "credits": 4, "timeout": 30, "prompt": "x"},
        {"capability": "opus", "credits": 101, "timeout": 30, "prompt": "x"},
        {"capability": "opus", "credits": 10, "timeout": 9, "prompt": "x"},
        {"capability": "opus", "credits": 10, "timeout": 61, "prompt": "x"},
        {"capability": "opus", "credits": 10.5, "timeout": 30, "prompt": "x"},
        {"capability": "opus", "credits": 10, "timeout": 30, "prompt": "x", "idempotency_key": ""},
    ],
)
def test_sdk_refuses_invalid_jobs_without_sending(arguments: dict[str, object]) -> None:
    # Nobody listens there: a request would raise APIConnectionError instead.
    with J0Client(new_key(), base_url=f"http://127.0.0.1:{free_port()}/api/v1") as client:
        with pytest.raises(j0.ValidationError) as caught:
            client.post_job(**arguments)  # type: ignore[arg-type]
    assert caught.value.status is None and caught.value.code == "VALIDATION_ERROR"


def test_sdk_refuses_invalid_filters_and_capabilities() -> None:
    with J0Client(new_key(), base_url=f"http://127.0.0.1:{free_port()}/api/v1") as client:
        with pytest.raises(j0.ValidationError):
            client.list_jobs(status="done")  # type: ignore[arg-type]
        with pytest.raises(j0.ValidationError):
            client.list_jobs(limit=0)
        with pytest.raises(j0.ValidationError):
            client.events(capabilities=["opus", "gpt5"])
        with pytest.raises(j0.ValidationError):
            client.work(["opus"], lambda job: "x", concurrency=0)


def test_invalid_private_key_is_refused() -> None:
    with pytest.raises(j0.ValidationError):
        J0Client("0x1234")


def test_timestamps_are_aware_utc() -> None:
    parsed = parse_timestamp("2026-02-13T23:00:00Z")
    assert parsed == datetime(2026, 2, 13, 23, 0, tzinfo=timezone.utc)
    assert parsed.tzinfo is not None


def _job(job_id: int, capability: str = "opus") -> dict[str, object]:
    return {
        "job_id": job_id, "requester_id": 1, "worker_id": None, "capability": capability,
        "credits": 10, "timeout_sec": 30, "status": "posted", "prompt": "p",
        "prompt_truncated": False, "result": None, "created_at": "2026-02-13T23:00:00Z",
        "accepted_at": None, "completed_at": None, "expires_at": "2026-02-13T23:07:00Z",
    }


def _message(event_id: int | None, name: str, data: object) -> str:
    return json.dumps({"id": event_id, "event": name, "data": data,
                       "timestamp": "2026-02-13T23:00:00Z"})


def test_cursor_drops_acks_duplicates_and_other_capabilities() -> None:
    cursor = StreamCursor("ws://x/ws", ["opus"], since=None)
    assert cursor.url() == "ws://x/ws"
    assert json.loads(cursor.subscribe_message() or "") == {
        "action": "subscribe", "capabilities": ["opus"]}
    assert cursor.read(json.dumps({"event": "subscribed", "data": {"capabilities": ["opus"]}})) is None
    first = cursor.read(_message(5, "job.posted", _job(1)))
    assert first is not None and first.id == 5 and isinstance(first.data, Job)
    assert cursor.read(_message(5, "job.posted", _job(1))) is None
    assert cursor.read(_message(4, "balance.updated",
                                {"cash_cents": 1, "promo_cents": 0, "total_cents": 1})) is None
    assert cursor.read(_message(6, "job.posted", _job(2, "sonnet"))) is None
    balance = cursor.read(_message(7, "balance.updated",
                                   {"cash_cents": 1, "promo_cents": 2, "total_cents": 3}))
    assert balance is not None and balance.balance.total_cents == 3
    assert cursor.url() == "ws://x/ws?since=7"
    truncated = cursor.read(json.dumps({"event": "events.truncated",
                                        "data": {"since": 1, "oldest_id": 9}}))
    assert truncated is not None and truncated.id is None
    assert isinstance(truncated.data, j0.EventsTruncated) and truncated.data.oldest_id == 9


def test_cursor_raises_validation_error_for_an_error_event() -> None:
    cursor = StreamCursor("ws://x/ws", None, since=3)
    assert cursor.url() == "ws://x/ws?since=3"
    assert cursor.subscribe_message() is None
    with pytest.raises(j0.ValidationError) as caught:
        cursor.read(json.dumps({"event": "error",
                                "data": {"code": "VALIDATION_ERROR", "error": "bad capability"}}))
    assert caught.value.message == "bad capability"
