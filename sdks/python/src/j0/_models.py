"""Typed results: frozen dataclasses whose attribute names are the API's field names.

Timestamps arrive as RFC 3339 ``...Z`` strings and are parsed to timezone-aware
:class:`datetime.datetime` objects in UTC; ids and cents are ``int``. Fields the server adds in
later versions are ignored, so an older SDK keeps working against a newer server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import cache
from typing import Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

__all__ = [
    "Capability",
    "JobStatus",
    "TransactionType",
    "EventType",
    "CAPABILITIES",
    "User",
    "PublicUser",
    "Balance",
    "Transaction",
    "Job",
    "EarnedJob",
    "Completed",
    "Cancelled",
    "Checkout",
    "DepositAddress",
    "EventsTruncated",
    "Event",
]

Capability = Literal["opus", "sonnet", "gpt4", "gpt4-turbo", "dall-e-3"]
"""What a job asks for."""
JobStatus = Literal["posted", "accepted", "completed", "cancelled", "timeout"]
"""Where a job is in its life."""
TransactionType = Literal["purchase", "job_post", "job_earn", "job_refund", "promo", "withdrawal"]
"""The kind of a credit history row."""
EventType = Literal[
    "job.posted",
    "job.accepted",
    "job.completed",
    "job.timeout",
    "balance.updated",
    "events.truncated",
]
"""The events the WebSocket delivers to callers."""

CAPABILITIES: tuple[Capability, ...] = get_args(Capability)
"""Every capability the API knows, in the contract's order."""
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)

JSONObject = Mapping[str, Any]


def parse_timestamp(value: object) -> datetime:
    """Parse an RFC 3339 timestamp (``2026-02-13T23:00:00Z``) to an aware UTC datetime."""
    if not isinstance(value, str):
        raise TypeError(f"expected a timestamp string, got {value!r}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(timezone.utc)


def _optional_timestamp(value: object) -> datetime | None:
    return None if value is None else parse_timestamp(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _optional_int(value: object) -> int | None:
    return None if value is None else _int(value)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _float(value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {value!r}")
    return value


def _choice(value: object, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"unexpected value {value!r}, expected one of {allowed}")
    return value


def _object(value: object) -> JSONObject:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {value!r}")
    return cast(JSONObject, value)


_SCALARS: Mapping[object, Callable[[object], Any]] = {
    int: _int, str: _str, float: _float, bool: _bool, datetime: parse_timestamp,
}


def _reader(hint: Any) -> Callable[[object], Any]:
    """How a field of type ``hint`` is read from its JSON value, checking its type."""
    args = get_args(hint)
    if get_origin(hint) is Literal:
        return lambda value: _choice(value, args)
    if type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        read = _reader(inner)
        return lambda value: None if value is None else read(value)
    if hint in _SCALARS:
        return _SCALARS[hint]
    return cast(Callable[[object], Any], hint.from_wire)


@cache
def _readers(model: type) -> tuple[tuple[str, Callable[[object], Any]], ...]:
    """Each field of a model with the reader of its type, in the order they are declared."""
    hints = get_type_hints(model)
    return tuple((f.name, _reader(hints[f.name])) for f in fields(model))


def _read_fields(model: type, d: JSONObject) -> dict[str, Any]:
    """The keyword arguments of ``model`` read from ``d``: one key per field, each required."""
    return {name: read(d[name]) for name, read in _readers(model)}


_M = TypeVar("_M", bound="_Model")


class _Model:
    """Base of the models: the wire object holds one key per field, named as the field."""

    @classmethod
    def from_wire(cls: type[_M], data: object) -> _M:
        """Build from the decoded JSON object."""
        return cls(**_read_fields(cls, _object(data)))


@dataclass(frozen=True)
class User(_Model):
    """The signed-in user (``GET /users/me``, and the ``user`` of a sign-in)."""

    id: int
    public_key: str
    """The wallet address, EIP-55 checksummed."""
    identity_type: Literal["ethereum_wallet"]
    reputation_score: float
    """Completed jobs over accepted jobs that were completed or timed out, in [0, 1]."""
    created_at: datetime


@dataclass(frozen=True)
class PublicUser(_Model):
    """Any user's public profile (``GET /users/:id``)."""

    id: int
    public_key: str
    reputation_score: float
    created_at: datetime


@dataclass(frozen=True)
class Balance(_Model):
    """Credit balance in cents (1 credit = 1 cent); ``total_cents = cash_cents + promo_cents``."""

    cash_cents: int
    promo_cents: int
    total_cents: int


@dataclass(frozen=True)
class Transaction(_Model):
    """One row of the credit history; ``amount_cents`` is negative for money going out."""

    id: int
    user_id: int
    amount_cents: int
    type: TransactionType
    description: str
    created_at: datetime


@dataclass(frozen=True)
class Job:
    """A job as the caller is allowed to see it.

    ``prompt`` is the full prompt for its requester and, after acceptance, its worker; anyone
    else sees at most the first 200 characters, and ``prompt_truncated`` says whether it was
    cut. ``result`` is ``None`` until completion and for anyone but the requester and worker.
    ``expires_at`` is the acceptance deadline while ``posted`` and the result deadline once
    ``accepted``.
    """

    job_id: int
    requester_id: int
    worker_id: int | None
    capability: Capability
    credits: int
    timeout_sec: int
    status: JobStatus
    prompt: str
    prompt_truncated: bool
    result: str | None
    created_at: datetime
    accepted_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime

    @classmethod
    def from_wire(cls, data: object) -> Job:
        """Build from the decoded JSON object (an :class:`EarnedJob` if it has ``credits_earned``)."""
        d = _object(data)
        job = _read_fields(Job, d)
        if "credits_earned" in d:
            return EarnedJob(**job, credits_earned=_int(d["credits_earned"]))
        return cls(**job)


@dataclass(frozen=True)
class EarnedJob(Job):
    """The worker's copy of a completed job in a ``job.completed`` event: adds what it earned."""

    credits_earned: int = 0


@dataclass(frozen=True)
class Completed(_Model):
    """The answer to :meth:`~j0.J0Client.complete_job`: the job and the worker's pay."""

    job: Job
    credits_earned: int
    """``floor(credits * 9 / 10)``, paid into the worker's cash balance."""


@dataclass(frozen=True)
class Cancelled(_Model):
    """The answer to :meth:`~j0.J0Client.cancel_job`: the job and the refund."""

    job: Job
    credits_refunded: int


@dataclass(frozen=True)
class Checkout(_Model):
    """A Stripe Checkout session: send the user to ``checkout_url`` to pay."""

    checkout_url: str


@dataclass(frozen=True)
class DepositAddress(_Model):
    """The caller's own USDC deposit address; 1 USDC credits 100 cents of cash."""

    address: str
    network: str
    chain_id: int
    token: str
    token_contract: str
    min_confirmations: int


@dataclass(frozen=True)
class EventsTruncated:
    """Data of an ``events.truncated`` event: events after ``since`` were pruned; resync over REST."""

    since: int
    oldest_id: int | None

    @classmethod
    def from_wire(cls, data: object) -> EventsTruncated:
        """Build from the decoded JSON object."""
        d = _object(data)
        return cls(since=_int(d["since"]), oldest_id=_optional_int(d.get("oldest_id")))


EventData = Union[Job, Balance, EventsTruncated, JSONObject]
"""What :attr:`Event.data` holds: a :class:`Job` (or :class:`EarnedJob`) for ``job.*``, a
:class:`Balance` for ``balance.updated``, :class:`EventsTruncated` for ``events.truncated``, and
the raw JSON object for events this SDK version does not know."""


@dataclass(frozen=True)
class Event:
    """One message of the event stream.

    ``id`` increases and is what a resumed stream continues from; it is ``None`` only for
    ``events.truncated``, which is a notice rather than a stored event (and so is
    ``timestamp``).
    """

    id: int | None
    event: str
    data: EventData
    timestamp: datetime | None

    @property
    def job(self) -> Job:
        """The job of a ``job.*`` event; raises :class:`TypeError` for other events."""
        if not isinstance(self.data, Job):
            raise TypeError(f"{self.event} event carries no job")
        return self.data

    @property
    def balance(self) -> Balance:
        """The balance of a ``balance.updated`` event; raises :class:`TypeError` otherwise."""
        if not isinstance(self.data, Balance):
            raise TypeError(f"{self.event} event carries no balance")
        return self.data

    @classmethod
    def from_wire(cls, data: object) -> Event:
        """Build from a decoded WebSocket message."""
        d = _object(data)
        name = _str(d["event"])
        raw = d.get("data")
        payload: EventData
        if name.startswith("job."):
            payload = Job.from_wire(raw)
        elif name == "balance.updated":
            payload = Balance.from_wire(raw)
        elif name == "events.truncated":
            payload = EventsTruncated.from_wire(raw)
        else:
            payload = _object(raw) if raw is not None else {}
        return cls(
            id=_optional_int(d.get("id")),
            event=name,
            data=payload,
            timestamp=_optional_timestamp(d.get("timestamp")),
        )
