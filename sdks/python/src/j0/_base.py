"""Everything the sync and async clients share: no I/O happens in this module.

The two clients differ only in how they send bytes and wait; configuration, URL derivation,
request building and validation, response parsing, error mapping, the retry policy, the
session (token) bookkeeping, the event-stream cursor and the worker's decisions all live here.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from ._errors import (
    APIConnectionError,
    APITimeoutError,
    J0Error,
    JobAlreadyAccepted,
    JobNotAccepted,
    JobNotAvailable,
    RateLimited,
    Unauthorized,
    ValidationError,
    error_from_response,
)
from ._models import (
    CAPABILITIES,
    JOB_STATUSES,
    Balance,
    Cancelled,
    Capability,
    Checkout,
    Completed,
    DepositAddress,
    Event,
    Job,
    PublicUser,
    Transaction,
    User,
)
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "derive_ws_url"]

log = logging.getLogger("j0")

T = TypeVar("T")

DEFAULT_BASE_URL = "https://j0.com/api/v1"
"""The production API, used when neither ``base_url`` nor ``J0_BASE_URL`` is given."""

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_RESULT_CHARS = 100_000
REFRESH_MARGIN_SEC = 60
"""A token this close to its expiry is replaced by a new sign-in before use."""
SUBMIT_MARGIN = timedelta(seconds=1)
"""The worker never submits a result closer than this to the job's deadline."""
BACKOFF_BASE_SEC = 0.5
BACKOFF_CAP_SEC = 8.0
RATE_LIMIT_JITTER_SEC = 0.25
USER_AGENT = f"j0-python/{__version__}"
WS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def resolve_base_url(base_url: str | None) -> str:
    """The option, else ``J0_BASE_URL``, else :data:`DEFAULT_BASE_URL`; without a trailing slash."""
    chosen = base_url or os.environ.get("J0_BASE_URL") or DEFAULT_BASE_URL
    return chosen.rstrip("/")


def derive_ws_url(base_url: str) -> str:
    """The WebSocket URL for an API base URL.

    ``http`` becomes ``ws`` and ``https`` becomes ``wss``; a trailing ``/api/v1`` is replaced by
    ``/ws`` (any other path gets ``/ws`` appended): ``http://127.0.0.1:8080/api/v1`` gives
    ``ws://127.0.0.1:8080/ws``.
    """
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path
    path = path[: -len("/api/v1")] if path.endswith("/api/v1") else path
    return urlunsplit((scheme, parts.netloc, path + "/ws", "", ""))


def backoff_delay(attempt: int) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(8, 0.5 * 2**attempt)] seconds."""
    return random.uniform(0.0, min(BACKOFF_CAP_SEC, BACKOFF_BASE_SEC * (2**attempt)))


def retry_delay(error: J0Error, attempt: int) -> float:
    """How long to wait before retrying after ``error`` (``retry_after`` for a 429)."""
    if isinstance(error, RateLimited):
        return error.retry_after + random.uniform(0.0, RATE_LIMIT_JITTER_SEC)
    return backoff_delay(attempt)


def is_retryable(error: J0Error) -> bool:
    """Transport failures, 5xx answers and 429 are worth another attempt."""
    if isinstance(error, (APIConnectionError, RateLimited)):
        return True
    return error.status is not None and error.status >= 500


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    """The SDK's exception for an httpx transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {exc!r}")
    return APIConnectionError(f"Connection error: {exc!r}")


def may_have_been_sent(exc: httpx.TransportError) -> bool:
    """False when the request certainly never reached the server (no connection was made)."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def sdk_validation(message: str) -> ValidationError:
    """A :class:`ValidationError` for input refused before anything was sent (``status`` None)."""
    return ValidationError(message, status=None, code="VALIDATION_ERROR")


def _require_int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise sdk_validation(f"{name}: must be an integer")
    if low is not None and value < low or high is not None and value > high:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise sdk_validation(f"{name}: must be {bounds}")
    return value


def _require_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise sdk_validation(f"{name}: must be a string")
    return value


def validate_capability(value: object, name: str = "capability") -> Capability:
    """The capability, or a :class:`ValidationError` naming the allowed ones."""
    if value not in CAPABILITIES:
        raise sdk_validation(f"{name}: must be one of {', '.join(CAPABILITIES)}")
    return value


def validate_capabilities(values: Iterable[str] | None) -> list[Capability] | None:
    """A list of known capabilities (``None`` stays ``None``: all of them)."""
    if values is None:
        return None
    if isinstance(values, str):
        raise sdk_validation("capabilities: must be a list of capabilities, not a string")
    return [validate_capability(v, "capabilities") for v in values]


def _decode_jwt_expiry(token: str) -> int | None:
    """The ``exp`` claim of a JWT, read without verifying it (the server verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return exp if isinstance(exp, int) else None


# Requests -------------------------------------------------------------------------------


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Recovery(Generic[T]):
    """How to tell that a job action took effect although its answer was lost.

    The retry of such an action is refused with ``refusal``, since the job has moved on; the
    job, read back, shows whether the first attempt moved it: ``result`` (given the job and the
    caller's user id) is what the action would have answered, or ``None`` if it did not.
    """

    job_id: int
    refusal: type[J0Error]
    result: Callable[[Job, int], T | None]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call: what to send, how to read a successful answer, how to recover a lost one."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, str | int] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    authenticated: bool = True
    recovery: Recovery[T] | None = None


def _query(**values: object) -> dict[str, str | int]:
    return {k: v for k, v in values.items() if v is not None}  # type: ignore[misc]


def _unwrap(key: str, parse: Callable[[Any], T]) -> Callable[[Any], T]:
    def read(body: Any) -> T:
        if not isinstance(body, Mapping):
            raise TypeError(f"expected an object with {key!r}")
        return parse(body[key])

    return read


def _list_of(key: str, parse: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    def read(body: Any) -> list[T]:
        items = body[key] if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise TypeError(f"expected an object with a list {key!r}")
        return [parse(item) for item in items]

    return read


def _job_path(job_id: int, action: str = "") -> str:
    _require_int("job_id", job_id)
    return f"/jobs/{job_id}" + (f"/{action}" if action else "")


class Calls:
    """Builders of every API call; each validates its input and returns a :class:`Call`."""

    @staticmethod
    def challenge(address: str) -> Call[Mapping[str, Any]]:
        return Call("POST", "/auth/challenge", _identity, json={"public_key": address},
                    authenticated=False)

    @staticmethod
    def verify(address: str, nonce: str, signature: str) -> Call[Mapping[str, Any]]:
        body = {"public_key": address, "challenge_nonce": nonce, "signature": signature}
        return Call("POST", "/auth/verify", _identity, json=body, authenticated=False)

    @staticmethod
    def logout() -> Call[Any]:
        return Call("POST", "/auth/logout", _identity)

    @staticmethod
    def me() -> Call[User]:
        return Call("GET", "/users/me", User.from_wire)

    @staticmethod
    def user(user_id: int) -> Call[PublicUser]:
        _require_int("user_id", user_id)
        return Call("GET", f"/users/{user_id}", PublicUser.from_wire, authenticated=False)

    @staticmethod
    def balance() -> Call[Balance]:
        return Call("GET", "/credits/balance", Balance.from_wire)

    @staticmethod
    def transactions(limit: int | None, before: int | None) -> Call[list[Transaction]]:
        if limit is not None:
            _require_int("limit", limit, 1)
        if before is not None:
            _require_int("before", before, 1)
        return Call("GET", "/credits/transactions", _list_of("transactions", Transaction.from_wire),
                    params=_query(limit=limit, before=before))

    @staticmethod
    def post_job(
        capability: str, credits: int, timeout: int, prompt: str, idempotency_key: str | None
    ) -> Call[Job]:
        validate_capability(capability)
        _require_int("credits", credits, 5, 100)
        _require_int("timeout", timeout, 10, 60)
        _require_str("prompt", prompt)
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            raise sdk_validation("idempotency_key: must be a string of 1 to 255 characters")
        body = {"capability": capability, "credits": credits, "timeout_sec": timeout,
                "prompt": prompt}
        return Call("POST", "/jobs", _unwrap("job", Job.from_wire), json=body,
                    headers={"Idempotency-Key": key})

    @staticmethod
    def list_jobs(
        status: str | None,
        capability: str | None,
        requester_id: int | None,
        worker_id: int | None,
        limit: int | None,
        before: int | None,
    ) -> Call[list[Job]]:
        if status is not None and status not in JOB_STATUSES:
            raise sdk_validation(f"status: must be one of {', '.join(JOB_STATUSES)}")
        if capability is not None:
            validate_capability(capability)
        for name, value in (("requester_id", requester_id), ("worker_id", worker_id),
                            ("before", before), ("limit", limit)):
            if value is not None:
                _require_int(name, value, 1)
        params = _query(status=status, capability=capability, requester_id=requester_id,
                        worker_id=worker_id, limit=limit, before=before)
        return Call("GET", "/jobs", _list_of("jobs", Job.from_wire), params=params)

    @staticmethod
    def get_job(job_id: int) -> Call[Job]:
        return Call("GET", _job_path(job_id), Job.from_wire)

    @staticmethod
    def accept_job(job_id: int) -> Call[Job]:
        return Call("POST", _job_path(job_id, "accept"), _unwrap("job", Job.from_wire),
                    recovery=Recovery(job_id, JobAlreadyAccepted, accepted_by))

    @staticmethod
    def complete_job(job_id: int, result: str) -> Call[Completed]:
        _require_str("result", result)
        return Call("POST", _job_path(job_id, "complete"), Completed.from_wire,
                    json={"result": result},
                    recovery=Recovery(job_id, JobNotAccepted, completed_by))

    @staticmethod
    def cancel_job(job_id: int) -> Call[Cancelled]:
        return Call("POST", _job_path(job_id, "cancel"), Cancelled.from_wire,
                    recovery=Recovery(job_id, JobNotAvailable, cancelled_by))

    @staticmethod
    def checkout(amount_usd: int) -> Call[Checkout]:
        _require_int("amount_usd", amount_usd)
        return Call("POST", "/payments/stripe/checkout", Checkout.from_wire,
                    json={"amount_usd": amount_usd})

    @staticmethod
    def deposit_address() -> Call[DepositAddress]:
        return Call("GET", "/payments/usdc/address", DepositAddress.from_wire)


def parse_answer(call: Call[T], status: int, content: bytes, retry_after: str | None) -> T:
    """The parsed result of a successful answer, or raise the :class:`J0Error` it stands for."""
    body: Any
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if status >= 400:
        raise error_from_response(status, body, retry_after)
    try:
        return call.parse(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise J0Error(f"Unexpected response from {call.method} {call.path}: {exc}",
                      status=status, body=body) from exc


class Attempts:
    """Retry bookkeeping for one call (all its attempts)."""

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries
        self.retries = 0
        self.resigned = False
        self.answer_lost = False
        """True once an attempt may have reached the server but its answer never came back."""

    def note_transport_failure(self, exc: httpx.TransportError) -> None:
        """Record a failed attempt that may or may not have been sent."""
        if may_have_been_sent(exc):
            self.answer_lost = True

    def should_resign(self, error: J0Error, can_sign: bool) -> bool:
        """A first 401 ``UNAUTHORIZED`` with a key in hand: sign in again and retry once."""
        if isinstance(error, Unauthorized) and can_sign and not self.resigned:
            self.resigned = True
            return True
        return False

    def next_delay(self, error: J0Error) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to raise ``error`` now."""
        if not is_retryable(error) or self.retries >= self.max_retries:
            return None
        delay = retry_delay(error, self.retries)
        self.retries += 1
        log.debug("retrying after %s (retry %d, waiting %.2fs)", error, self.retries, delay)
        return delay


# Sessions -------------------------------------------------------------------------------


class Session:
    """The signing key (if any) and the current token, with its expiry and user id."""

    def __init__(self, private_key: str | None, token: str | None) -> None:
        self.account: LocalAccount | None = None
        if private_key is not None:
            try:
                self.account = Account.from_key(private_key)
            except (ValueError, TypeError) as exc:
                raise sdk_validation(f"private_key: not a valid secp256k1 key ({exc})") from None
        self.token = token
        self.expires_at: int | None = _decode_jwt_expiry(token) if token else None
        self.user_id: int | None = None

    @property
    def can_sign(self) -> bool:
        """Whether a private key was given, so the client can sign in by itself."""
        return self.account is not None

    def usable_token(self) -> str | None:
        """The token, unless a key is at hand and the token is missing or near its expiry."""
        if self.token is None:
            if not self.can_sign:
                raise Unauthorized("No credentials: pass private_key (or token) to the client")
            return None
        if self.can_sign and self.expires_at is not None:
            if self.expires_at - REFRESH_MARGIN_SEC <= time.time():
                return None
        return self.token

    def discard(self, stale: str | None) -> None:
        """Forget ``stale`` (if it is still the current token) so the next call signs in."""
        if stale is not None and self.token == stale:
            self.token = None
            self.expires_at = None

    def challenge_call(self) -> Call[Mapping[str, Any]]:
        """The first leg of a sign-in."""
        return Calls.challenge(self._signer().address)

    def verify_call(self, challenge: Mapping[str, Any]) -> Call[Mapping[str, Any]]:
        """The second leg: sign ``message_to_sign`` (EIP-191 ``personal_sign``) and send it."""
        account = self._signer()
        try:
            message = challenge["message_to_sign"]
            nonce = challenge["challenge"]["nonce"]
        except (KeyError, TypeError) as exc:
            raise J0Error(f"Unexpected challenge response: {exc}") from exc
        signed = Account.sign_message(encode_defunct(text=message), account.key)
        signature = "0x" + bytes(signed.signature).hex()
        return Calls.verify(account.address, nonce, signature)

    def store(self, verified: Mapping[str, Any]) -> User:
        """Keep the token of a successful verify; return its user."""
        try:
            token = verified["token"]
            expires_at = verified["expires_at"]
            user = User.from_wire(verified["user"])
        except (KeyError, TypeError, ValueError) as exc:
            raise J0Error(f"Unexpected verify response: {exc}") from exc
        self.token = str(token)
        self.expires_at = int(expires_at)
        self.user_id = user.id
        return user

    def _signer(self) -> LocalAccount:
        if self.account is None:
            raise Unauthorized("Signing in needs a private_key")
        return self.account


class BaseClient:
    """Configuration and state shared by :class:`~j0.J0Client` and :class:`~j0.AsyncJ0Client`."""

    def __init__(
        self,
        private_key: str | None,
        *,
        base_url: str | None,
        ws_url: str | None,
        token: str | None,
        max_retries: int,
        timeout: float,
    ) -> None:
        if not isinstance(max_retries, int) or max_retries < 0:
            raise sdk_validation("max_retries: must be a non-negative integer")
        self.base_url = resolve_base_url(base_url)
        """The API base URL, including ``/api/v1``."""
        self.ws_url = ws_url or derive_ws_url(self.base_url)
        """The WebSocket URL of the event stream."""
        self.max_retries = max_retries
        """Extra attempts after a transport failure, a 5xx or a 429."""
        self.timeout = timeout
        """Seconds allowed for each HTTP request and WebSocket handshake."""
        self._session = Session(private_key, token)

    @property
    def address(self) -> str | None:
        """The wallet address of the private key, if one was given."""
        return self._session.account.address if self._session.account else None

    @property
    def token(self) -> str | None:
        """The current bearer token (``None`` before the first sign-in)."""
        return self._session.token

    def _http_options(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, address={self.address!r})"


def next_before(page: Sequence[Any], page_size: int, id_of: Callable[[Any], int]) -> int | None:
    """The ``before`` cursor of the page after ``page``, or ``None`` when it was the last."""
    if len(page) < page_size or not page:
        return None
    return min(id_of(item) for item in page)


def page_size_of(page_size: int) -> int:
    """Validate an iterator's page size (1 to 100)."""
    return _require_int("page_size", page_size, 1, MAX_PAGE_SIZE)


# Recovering lost answers ----------------------------------------------------------------


def accepted_by(job: Job, user_id: int) -> Job | None:
    """An accept whose answer was lost took effect if this user is now the job's worker."""
    if job.worker_id == user_id and job.status in ("accepted", "completed", "timeout"):
        return job
    return None


def completed_by(job: Job, user_id: int) -> Completed | None:
    """A complete whose answer was lost took effect if the job is completed by this user."""
    if job.status == "completed" and job.worker_id == user_id:
        return Completed(job=job, credits_earned=credits_earned(job.credits))
    return None


def credits_earned(credits: int) -> int:
    """The worker's pay for a job: ``floor(credits * 9 / 10)``."""
    return credits * 9 // 10


def cancelled_by(job: Job, user_id: int) -> Cancelled | None:
    """A cancel whose answer was lost took effect if the job is ours and cancelled."""
    if job.status == "cancelled" and job.requester_id == user_id:
        return Cancelled(job=job, credits_refunded=job.credits)
    return None


# Events ---------------------------------------------------------------------------------


class Connected:
    """Marker a stream hands its internal readers after every (re)connect."""


CONNECTED = Connected()


class StreamCursor:
    """What an event stream remembers across reconnects, and how it reads messages."""

    def __init__(self, ws_url: str, capabilities: Iterable[str] | None, since: int | None) -> None:
        self.ws_url = ws_url
        self.capabilities = validate_capabilities(capabilities)
        if since is not None:
            _require_int("since", since, 0)
        self.last_id = since

    def url(self) -> str:
        """The URL to connect to now: resumes after the last event seen."""
        if self.last_id is None:
            return self.ws_url
        return f"{self.ws_url}?{urlencode({'since': self.last_id})}"

    def subscribe_message(self) -> str | None:
        """The subscription to send after connecting, if capabilities were given."""
        if self.capabilities is None:
            return None
        return json.dumps({"action": "subscribe", "capabilities": self.capabilities})

    def read(self, raw: str | bytes) -> Event | None:
        """The event in a message, or ``None`` for one the caller should not see.

        Subscription acknowledgements, events already seen (id not above the last one) and
        ``job.posted`` events outside the subscribed capabilities are dropped; an
        ``{"event": "error"}`` answer raises :class:`ValidationError`.
        """
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("ignoring a WebSocket message that is not JSON: %r", raw[:200])
            return None
        if not isinstance(message, dict):
            return None
        name = message.get("event")
        if name == "subscribed":
            return None
        if name == "error":
            data = message.get("data")
            data = data if isinstance(data, dict) else {}
            raise ValidationError(str(data.get("error", "WebSocket error")),
                                  code=str(data.get("code", "VALIDATION_ERROR")), body=message)
        try:
            event = Event.from_wire(message)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ignoring a malformed event (%s): %r", exc, message)
            return None
        if event.id is not None:
            if self.last_id is not None and event.id <= self.last_id:
                return None
            self.last_id = event.id
        if (event.event == "job.posted" and self.capabilities
                and event.job.capability not in self.capabilities):
            return None
        return event


def ws_connect_options(token: str, timeout: float) -> dict[str, Any]:
    """The keyword arguments of websockets' ``connect`` (sync or asyncio) for the event stream."""
    return {
        "additional_headers": {"Authorization": f"Bearer {token}"},
        "user_agent_header": USER_AGENT,
        "open_timeout": timeout,
        "max_size": WS_MAX_MESSAGE_BYTES,
        "proxy": None,
    }


def handshake_error(status: int, body: bytes | bytearray) -> J0Error:
    """The exception for a refused WebSocket handshake."""
    try:
        decoded: Any = json.loads(body) if body else None
    except ValueError:
        decoded = None
    return error_from_response(status, decoded)


# Worker ---------------------------------------------------------------------------------


class StopSignal(Protocol):
    """Anything with ``is_set()``: a :class:`threading.Event` or an :class:`asyncio.Event`."""

    def is_set(self) -> bool: ...


LOST_RACES = ("JOB_ALREADY_ACCEPTED", "JOB_EXPIRED", "JOB_NOT_AVAILABLE")


class WorkPlan:
    """The worker's decisions: which jobs to take, and whether a result may be submitted."""

    def __init__(
        self,
        capabilities: Iterable[str],
        *,
        min_credits: int | None,
        concurrency: int,
        max_jobs: int | None,
    ) -> None:
        caps = validate_capabilities(capabilities)
        if not caps:
            raise sdk_validation("capabilities: name at least one capability")
        self.capabilities: list[Capability] = caps
        self.min_credits = min_credits if min_credits is None else _require_int(
            "min_credits", min_credits, 0)
        self.concurrency = _require_int("concurrency", concurrency, 1)
        self.max_jobs = max_jobs if max_jobs is None else _require_int("max_jobs", max_jobs, 1)
        self.accepted = 0
        self.completed = 0
        self._seen: set[int] = set()

    @property
    def full(self) -> bool:
        """True once ``max_jobs`` jobs were accepted: take no more."""
        return self.max_jobs is not None and self.accepted >= self.max_jobs

    def wants(self, job: Job, user_id: int) -> bool:
        """Whether to try to accept ``job`` (each job is tried at most once)."""
        if job.job_id in self._seen:
            return False
        self._seen.add(job.job_id)
        return (
            job.status == "posted"
            and job.requester_id != user_id
            and job.capability in self.capabilities
            and (self.min_credits is None or job.credits >= self.min_credits)
            and job.expires_at > datetime.now(timezone.utc)
        )

    @staticmethod
    def seconds_left(job: Job) -> float:
        """Seconds until the last moment a result may be submitted (deadline minus 1 s)."""
        return (job.expires_at - SUBMIT_MARGIN - datetime.now(timezone.utc)).total_seconds()

    def submittable(self, job: Job, result: object) -> str | None:
        """The result to submit, or ``None`` (logged) when nothing should be submitted."""
        if result is None:
            log.info("job %d: handler returned nothing; not submitting", job.job_id)
            return None
        if not isinstance(result, str):
            log.error("job %d: handler returned %s, not str; not submitting",
                      job.job_id, type(result).__name__)
            return None
        if not result:
            log.info("job %d: empty result; not submitting", job.job_id)
            return None
        if len(result) > MAX_RESULT_CHARS:
            log.error("job %d: result of %d characters is over the %d limit; not submitting",
                      job.job_id, len(result), MAX_RESULT_CHARS)
            return None
        if self.seconds_left(job) <= 0:
            log.warning("job %d: too close to its deadline; not submitting", job.job_id)
            return None
        return result


def is_lost_race(error: J0Error) -> bool:
    """An accept refused because someone else was faster, or the job is gone."""
    return error.code in LOST_RACES
