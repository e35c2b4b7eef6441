"""The exceptions the SDK raises, one class per API error code.

Every refusal of the API is a :class:`J0Error` subclass named after the wire ``code``; the
classes are grouped under a base per HTTP status family (:class:`AuthenticationError` for
401, :class:`PermissionDenied` for 403, :class:`NotFound` for 404), so callers can catch as
broadly or as narrowly as they like. Failures to reach the server at all are
:class:`APIConnectionError`, kept apart from refusals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "J0Error",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "Unauthorized",
    "InvalidSignature",
    "ChallengeNotFound",
    "ChallengeExpired",
    "ChallengeUsed",
    "PermissionDenied",
    "OwnJob",
    "NotTheWorker",
    "NotTheRequester",
    "NotFound",
    "JobNotFound",
    "UserNotFound",
    "ValidationError",
    "InsufficientCredits",
    "JobAlreadyAccepted",
    "JobExpired",
    "JobNotAvailable",
    "JobNotAccepted",
    "TimeoutExpired",
    "TooManyOpenJobs",
    "IdempotencyKeyReused",
    "InvalidAmount",
    "InvalidWebhookSignature",
    "UnsupportedMediaType",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "RateLimited",
    "PaymentsUnavailable",
    "ServiceUnavailable",
    "InternalServerError",
]


class J0Error(Exception):
    """Base class of every error the SDK raises.

    Attributes:
        status: the HTTP status of the answer; ``None`` when no answer was received
            (:class:`APIConnectionError`) or the SDK refused the input before sending it.
        code: the API's error code (``"JOB_NOT_FOUND"``, ...); ``None`` when the answer was
            not the API's error envelope ``{"error": ..., "code": ...}`` or nothing was received.
        message: the server's human-readable message, or the SDK's own.
        body: the decoded JSON body of the answer, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body

    def __str__(self) -> str:
        parts = [p for p in (str(self.status) if self.status else None, self.code) if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r})"
        )


class _ErrorFields(TypedDict, total=False):
    """The keyword arguments of :class:`J0Error`, for subclasses that take them on."""

    status: int | None
    code: str | None
    body: object | None


class APIConnectionError(J0Error):
    """The server could not be reached, or the connection failed before an answer arrived."""

    def __init__(self, message: str = "Connection error") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read or write)."""

    def __init__(self, message: str = "Request timed out") -> None:
        super().__init__(message)


# 401 -----------------------------------------------------------------------------------


class AuthenticationError(J0Error):
    """Base class of the 401 refusals."""


class Unauthorized(AuthenticationError):
    """``UNAUTHORIZED``: missing, malformed, expired, revoked or tampered token."""


class InvalidSignature(AuthenticationError):
    """``INVALID_SIGNATURE``: the signature does not recover to the address."""


class ChallengeNotFound(AuthenticationError):
    """``CHALLENGE_NOT_FOUND``: no such nonce, or a nonce issued to another address."""


class ChallengeExpired(AuthenticationError):
    """``CHALLENGE_EXPIRED``: the challenge is older than its 60 s lifetime."""


class ChallengeUsed(AuthenticationError):
    """``CHALLENGE_USED``: the challenge was already traded for a token."""


# 403 -----------------------------------------------------------------------------------


class PermissionDenied(J0Error):
    """Base class of the 403 refusals."""


class OwnJob(PermissionDenied):
    """``OWN_JOB``: a requester cannot accept their own job."""


class NotTheWorker(PermissionDenied):
    """``NOT_THE_WORKER``: only the job's worker may complete it."""


class NotTheRequester(PermissionDenied):
    """``NOT_THE_REQUESTER``: only the job's requester may cancel it."""


# 404 -----------------------------------------------------------------------------------


class NotFound(J0Error):
    """Base class of the 404 refusals; raised itself for ``NOT_FOUND`` (no such route)."""


class JobNotFound(NotFound):
    """``JOB_NOT_FOUND``: no job with that id."""


class UserNotFound(NotFound):
    """``USER_NOT_FOUND``: no user with that id."""


# 400 and the rest -------------------------------------------------------------------------


class ValidationError(J0Error):
    """``VALIDATION_ERROR``: the message names the field and the rule it breaks.

    Also raised, with ``status`` ``None`` and ``code`` ``"VALIDATION_ERROR"``, for input the SDK
    refuses before sending anything (an unknown capability, credits outside 5-100, ...), and
    for an ``{"event": "error"}`` answer on the WebSocket.
    """


_INSUFFICIENT = re.compile(r"have\s+(-?\d+),\s*need\s+(-?\d+)")


class InsufficientCredits(J0Error):
    """``INSUFFICIENT_CREDITS``: the balance is below the job's credits.

    Attributes:
        have: the caller's total balance in cents (``None`` if the message did not say).
        need: the credits the job costs (``None`` if the message did not say).
    """

    def __init__(self, message: str, **fields: Unpack[_ErrorFields]) -> None:
        super().__init__(message, **fields)
        match = _INSUFFICIENT.search(message)
        self.have: int | None = int(match.group(1)) if match else None
        self.need: int | None = int(match.group(2)) if match else None


class JobAlreadyAccepted(J0Error):
    """``JOB_ALREADY_ACCEPTED``: another worker (or you) accepted the job first."""


class JobExpired(J0Error):
    """``JOB_EXPIRED``: the job waited past its acceptance window."""


class JobNotAvailable(J0Error):
    """``JOB_NOT_AVAILABLE``: the job was cancelled or has timed out."""


class JobNotAccepted(J0Error):
    """``JOB_NOT_ACCEPTED``: the job is not in the ``accepted`` state."""


class TimeoutExpired(J0Error):
    """``TIMEOUT_EXPIRED``: the result came after the job's deadline."""


class TooManyOpenJobs(J0Error):
    """``TOO_MANY_OPEN_JOBS``: the worker already holds the maximum of accepted jobs."""


class IdempotencyKeyReused(J0Error):
    """``IDEMPOTENCY_KEY_REUSED``: the key was used before with a different body."""


class InvalidAmount(J0Error):
    """``INVALID_AMOUNT``: ``amount_usd`` is not one of 5, 10, 20, 50, 100."""


class InvalidWebhookSignature(J0Error):
    """``INVALID_WEBHOOK_SIGNATURE``: the Stripe signature of a webhook did not verify."""


class UnsupportedMediaType(J0Error):
    """``UNSUPPORTED_MEDIA_TYPE`` (415): the body was not ``application/json``."""


class MethodNotAllowed(J0Error):
    """``METHOD_NOT_ALLOWED`` (405): the route exists, the method does not."""


class PayloadTooLarge(J0Error):
    """``PAYLOAD_TOO_LARGE`` (413): the request body is over the route's limit."""


class RateLimited(J0Error):
    """``RATE_LIMITED`` (429).

    Attributes:
        retry_after: whole seconds to wait before trying again (from the body, else the
            ``Retry-After`` header; at least 1).
    """

    def __init__(
        self, message: str, *, retry_after: int = 1, **fields: Unpack[_ErrorFields]
    ) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class PaymentsUnavailable(J0Error):
    """``PAYMENTS_UNAVAILABLE`` (503): card payments are not configured or Stripe failed."""


class ServiceUnavailable(J0Error):
    """``SERVICE_UNAVAILABLE`` (503): the server cannot reach its database."""


class InternalServerError(J0Error):
    """``INTERNAL_ERROR`` (500): the server failed; the message never leaks details."""


ERROR_CLASSES: Mapping[str, type[J0Error]] = {
    "UNAUTHORIZED": Unauthorized,
    "INVALID_SIGNATURE": InvalidSignature,
    "CHALLENGE_NOT_FOUND": ChallengeNotFound,
    "CHALLENGE_EXPIRED": ChallengeExpired,
    "CHALLENGE_USED": ChallengeUsed,
    "OWN_JOB": OwnJob,
    "NOT_THE_WORKER": NotTheWorker,
    "NOT_THE_REQUESTER": NotTheRequester,
    "NOT_FOUND": NotFound,
    "JOB_NOT_FOUND": JobNotFound,
    "USER_NOT_FOUND": UserNotFound,
    "VALIDATION_ERROR": ValidationError,
    "INSUFFICIENT_CREDITS": InsufficientCredits,
    "JOB_ALREADY_ACCEPTED": JobAlreadyAccepted,
    "JOB_EXPIRED": JobExpired,
    "JOB_NOT_AVAILABLE": JobNotAvailable,
    "JOB_NOT_ACCEPTED": JobNotAccepted,
    "TIMEOUT_EXPIRED": TimeoutExpired,
    "TOO_MANY_OPEN_JOBS": TooManyOpenJobs,
    "IDEMPOTENCY_KEY_REUSED": IdempotencyKeyReused,
    "INVALID_AMOUNT": InvalidAmount,
    "INVALID_WEBHOOK_SIGNATURE": InvalidWebhookSignature,
    "UNSUPPORTED_MEDIA_TYPE": UnsupportedMediaType,
    "METHOD_NOT_ALLOWED": MethodNotAllowed,
    "PAYLOAD_TOO_LARGE": PayloadTooLarge,
    "RATE_LIMITED": RateLimited,
    "PAYMENTS_UNAVAILABLE": PaymentsUnavailable,
    "SERVICE_UNAVAILABLE": ServiceUnavailable,
    "INTERNAL_ERROR": InternalServerError,
}
"""The class raised for each wire ``code``."""


def _parse_retry_after(body: Mapping[str, Any] | None, header: str | None) -> int:
    value: object = body.get("retry_after") if body is not None else None
    if not isinstance(value, int) or isinstance(value, bool):
        try:
            value = int(header) if header is not None else None
        except ValueError:
            value = None
    return max(1, value) if isinstance(value, int) else 1


def error_from_response(status: int, body: object, retry_after_header: str | None = None) -> J0Error:
    """Build the exception for an error answer.

    Args:
        status: the HTTP status.
        body: the decoded JSON body, or ``None`` if it was not JSON.
        retry_after_header: the ``Retry-After`` header, if any.

    Returns:
        The class for the body's ``code`` (see :data:`ERROR_CLASSES`); the base
        :class:`J0Error` for an unknown code, and for a body that is not the error envelope
        (then ``code`` is ``None``). A 429 without the envelope is still :class:`RateLimited`.
    """
    envelope = body if isinstance(body, dict) else None
    code = envelope.get("code") if envelope is not None else None
    message = envelope.get("error") if envelope is not None else None
    if not isinstance(code, str) or not isinstance(message, str):
        if status == 429:
            return RateLimited(
                "Rate limit exceeded",
                status=status,
                body=body,
                retry_after=_parse_retry_after(None, retry_after_header),
            )
        return J0Error(f"Unexpected error response (HTTP {status})", status=status, body=body)
    cls = ERROR_CLASSES.get(code, J0Error)
    if cls is RateLimited:
        return RateLimited(
            message,
            status=status,
            code=code,
            body=body,
            retry_after=_parse_retry_after(envelope, retry_after_header),
        )
    return cls(message, status=status, code=code, body=body)
