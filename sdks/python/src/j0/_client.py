"""The synchronous client, on :class:`httpx.Client` and websockets' sync client."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Callable, Iterable
from contextlib import closing
from types import TracebackType
from typing import Protocol, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ._sync_io import (
    Handler,
    Workers,
    ClientConnection,
    Lock,
    connect_websocket,
    receive,
    sleep,
)
from ._base import (
    CONNECTED,
    DEFAULT_PAGE_SIZE,
    Attempts,
    BaseClient,
    Call,
    Calls,
    Connected,
    StopSignal,
    StreamCursor,
    WorkPlan,
    connection_error,
    handshake_error,
    is_lost_race,
    is_retryable,
    log,
    next_before,
    page_size_of,
    parse_answer,
    retry_delay,
)
from ._errors import APIConnectionError, ChallengeUsed, J0Error, Unauthorized
from ._models import (
    Balance,
    Cancelled,
    Checkout,
    Completed,
    DepositAddress,
    Event,
    Job,
    JobStatus,
    PublicUser,
    Transaction,
    User,
)

__all__ = ["J0Client", "EventStream"]

T = TypeVar("T")
P = TypeVar("P")


class _Closable(Protocol):
    """Anything with an ``close`` coroutine."""

    def close(self) -> None: ...


class _Closing:
    """Mixin: the end of an ``with`` block closes the object, with its ``close``."""

    def __exit__(
        self: _Closable,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class J0Client(BaseClient, _Closing):
    """Synchronous client of the j0 API v1.

    Args:
        private_key: hex secp256k1 key of the wallet to sign in with (``0x...``). With a key
            the client signs in by itself on first use, again shortly before the token
            expires, and once more after a 401 ``UNAUTHORIZED``.
        base_url: API base URL including ``/api/v1``; defaults to ``J0_BASE_URL``, else
            ``https://j0.com/api/v1``.
        ws_url: WebSocket URL; derived from ``base_url`` by default (``.../api/v1`` →
            ``.../ws``, ``http`` → ``ws``, ``https`` → ``wss``).
        token: a bearer token to use (for instance one from an earlier sign-in). Without a key
            the client uses it as is.
        max_retries: extra attempts after a connection failure, a 5xx or a 429 (``0`` turns
            retries off).
        timeout: seconds allowed for each HTTP request and WebSocket handshake.

    The constructor makes no request. The client is thread-safe; use it as a context manager
    or call :meth:`close` when done.
    """

    def __init__(
        self,
        private_key: str | None = None,
        *,
        base_url: str | None = None,
        ws_url: str | None = None,
        token: str | None = None,
        max_retries: int = 2,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(private_key, base_url=base_url, ws_url=ws_url, token=token,
                         max_retries=max_retries, timeout=timeout)
        self._http = httpx.Client(**self._http_options())
        self._sign_in_lock = Lock()

    # Lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> J0Client:
        return self

    # Transport ---------------------------------------------------------------------------

    def _send(self, call: Call[T], attempts: Attempts | None = None) -> T:
        attempts = attempts or Attempts(self.max_retries)
        while True:
            headers = dict(call.headers)
            token = self._ensure_token() if call.authenticated else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=headers)
            except httpx.TransportError as exc:
                attempts.note_transport_failure(exc)
                error: J0Error = connection_error(exc)
                delay = attempts.next_delay(error)
                if delay is None:
                    raise error from exc
                sleep(delay)
                continue
            try:
                return parse_answer(call, response.status_code, response.content,
                                    response.headers.get("Retry-After"))
            except J0Error as refused:
                error = refused
            if token is not None and attempts.should_resign(error, self._session.can_sign):
                self._session.discard(token)
                continue
            delay = attempts.next_delay(error)
            if delay is None:
                raise error
            sleep(delay)

    def _ensure_token(self) -> str:
        token = self._session.usable_token()
        if token is not None:
            return token
        with self._sign_in_lock:
            token = self._session.usable_token()
            if token is None:
                self._sign_in()
                token = self._session.token
        assert token is not None
        return token

    def _sign_in(self) -> User:
        challenge = self._send(self._session.challenge_call())
        attempts = Attempts(self.max_retries)
        try:
            verified = self._send(self._session.verify_call(challenge), attempts)
        except ChallengeUsed:
            if not attempts.answer_lost:
                raise
            # The first verify went through but its answer was lost: sign in afresh.
            challenge = self._send(self._session.challenge_call())
            verified = self._send(self._session.verify_call(challenge))
        return self._session.store(verified)

    def _user_id(self) -> int:
        if self._session.user_id is None:
            user = self.me()
            self._session.user_id = user.id
        return self._session.user_id

    def _act(self, call: Call[T]) -> T:
        """Send a job action; if its answer was lost, recover what the first attempt did.

        When an attempt may have reached the server unanswered and the retry is refused with
        the call's recovery refusal, the job is read back: if it shows that the action took
        effect, its result is returned, otherwise the refusal is raised.
        """
        attempts = Attempts(self.max_retries)
        try:
            return self._send(call, attempts)
        except J0Error as refused:
            recovery = call.recovery
            if (recovery is None or not attempts.answer_lost
                    or not isinstance(refused, recovery.refusal)):
                raise
            done = recovery.result(self.get_job(recovery.job_id), self._user_id())
            if done is None:
                raise
            return done

    def _pages(
        self, page: Callable[[int | None], Call[list[P]]], size: int, id_of: Callable[[P], int]
    ) -> Iterator[P]:
        """Every item of the pages ``page(before)`` asks for, following ``before`` to the end."""
        before: int | None = None
        while True:
            items = self._send(page(before))
            for item in items:
                yield item
            before = next_before(items, size, id_of)
            if before is None:
                return

    # Authentication and users --------------------------------------------------------------

    def authenticate(self) -> User:
        """Sign in with the private key: one challenge, one signature, one verify.

        Returns the signed-in user (created on the first sign-in of a wallet).
        """
        with self._sign_in_lock:
            return self._sign_in()

    def logout(self) -> None:
        """Revoke the current token on the server and forget it.

        With a private key the next call signs in again. Does nothing without a token.
        """
        token = self._session.token
        if token is None:
            return
        try:
            self._send(Calls.logout(), Attempts(self.max_retries))
        except Unauthorized:
            pass  # already revoked or expired: the goal is reached
        finally:
            self._session.discard(token)

    def me(self) -> User:
        """The signed-in user."""
        user = self._send(Calls.me())
        self._session.user_id = user.id
        return user

    def user(self, id: int) -> PublicUser:
        """Any user's public profile."""
        return self._send(Calls.user(id))

    # Credits -------------------------------------------------------------------------------

    def get_balance(self) -> Balance:
        """The caller's credit balance in cents."""
        return self._send(Calls.balance())

    def transactions(
        self, limit: int | None = None, before: int | None = None
    ) -> list[Transaction]:
        """One page of the credit history, newest first.

        Args:
            limit: rows per page (server default 50, capped at 100).
            before: only rows with a smaller id (the smallest id of the previous page).
        """
        return self._send(Calls.transactions(limit, before))

    def iter_transactions(
        self, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Transaction]:
        """Every row of the credit history, newest first, fetched page by page."""
        size = page_size_of(page_size)
        for row in self._pages(
            lambda before: Calls.transactions(size, before), size, lambda row: row.id
        ):
            yield row

    def buy_credits(self, amount_usd: int) -> Checkout:
        """Start a Stripe purchase; send the user to the returned ``checkout_url``.

        ``amount_usd`` is one of 5, 10, 20, 50, 100; each dollar credits 95 cents once paid.
        """
        return self._send(Calls.checkout(amount_usd))

    def deposit_address(self) -> DepositAddress:
        """The caller's USDC deposit address on Base."""
        return self._send(Calls.deposit_address())

    # Jobs ----------------------------------------------------------------------------------

    def post_job(
        self,
        capability: str,
        credits: int,
        timeout: int,
        prompt: str,
        idempotency_key: str | None = None,
    ) -> Job:
        """Post a job; its credits move from the balance into escrow.

        Args:
            capability: one of ``opus``, ``sonnet``, ``gpt4``, ``gpt4-turbo``, ``dall-e-3``.
            credits: what the job pays, 5 to 100 (cents).
            timeout: seconds the worker has after accepting, 10 to 60 (``timeout_sec``).
            prompt: the task, 1 to 10,240 characters.
            idempotency_key: sent as ``Idempotency-Key``; a fresh UUID4 per call when omitted.
                Every retry of the call reuses it, so a retried post never posts twice.
        """
        return self._send(
            Calls.post_job(capability, credits, timeout, prompt, idempotency_key))

    def list_jobs(
        self, status: JobStatus | None = None, capability: str | None = None,
        requester_id: int | None = None, worker_id: int | None = None,
        limit: int | None = None, before: int | None = None,
    ) -> list[Job]:
        """One page of jobs, newest first, filtered by any of the arguments."""
        return self._send(
            Calls.list_jobs(status, capability, requester_id, worker_id, limit, before))

    def iter_jobs(
        self, status: JobStatus | None = None, capability: str | None = None,
        requester_id: int | None = None, worker_id: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Job]:
        """Every matching job, newest first, fetched page by page following ``before``."""
        size = page_size_of(page_size)
        for job in self._pages(
            lambda before: Calls.list_jobs(status, capability, requester_id, worker_id, size,
                                           before),
            size, lambda job: job.job_id,
        ):
            yield job

    def get_job(self, id: int) -> Job:
        """One job, as the caller may see it."""
        return self._send(Calls.get_job(id))

    def accept_job(self, id: int) -> Job:
        """Accept a posted job (first to accept wins); returns it with the full prompt.

        Raises :class:`~j0.JobAlreadyAccepted`, :class:`~j0.JobExpired` or
        :class:`~j0.JobNotAvailable` when the race is lost. If an attempt's answer was lost
        and the retry hears ``JOB_ALREADY_ACCEPTED``, the job is read back and returned when
        this user is its worker.
        """
        return self._act(Calls.accept_job(id))

    def complete_job(self, id: int, result: str) -> Completed:
        """Submit the result of an accepted job; the worker is paid ``floor(credits*9/10)``."""
        return self._act(Calls.complete_job(id, result))

    def cancel_job(self, id: int) -> Cancelled:
        """Cancel a job nobody has accepted yet; its credits are refunded."""
        return self._act(Calls.cancel_job(id))

    # Events --------------------------------------------------------------------------------

    def events(
        self, capabilities: Iterable[str] | None = None, since: int | None = None
    ) -> EventStream:
        """Open the real-time event stream.

        Args:
            capabilities: limit ``job.posted`` to these capabilities (other events are never
                filtered); ``None`` for all.
            since: resume after this event id (replays what came after it).

        Returns an iterator of :class:`~j0.Event` that reconnects by itself, resuming after the
        last event it received. Use it as a context manager (which connects on entry) or
        call ``connect()``/``close()`` yourself.
        """
        return EventStream(self, StreamCursor(self.ws_url, capabilities, since))

    # Worker --------------------------------------------------------------------------------

    def work(
        self,
        capabilities: Iterable[str],
        handler: Handler,
        *,
        min_credits: int | None = None,
        concurrency: int = 1,
        max_jobs: int | None = None,
        stop: StopSignal | None = None,
        poll_interval: float = 0.5,
    ) -> int:
        """Take posted jobs of ``capabilities`` and answer them with ``handler``.

        Listens for ``job.posted`` on the event stream and, on start and after each reconnect,
        also reads the jobs already posted. Own jobs and jobs paying less than
        ``min_credits`` are skipped; lost races are skipped quietly. ``handler(job)`` runs in
        a thread pool of ``concurrency`` threads and returns the result; a handler that
        raises or returns ``None``, a result over 100,000 characters, or one ready less than
        1 s before the job's ``expires_at`` is not submitted (the job times out and the
        requester is refunded).

        Args:
            max_jobs: return after this many jobs were accepted and handled.
            stop: return (after in-flight jobs finish) once ``stop.is_set()``, e.g. a
                :class:`threading.Event`.
            poll_interval: how often, in seconds, ``stop`` is checked while idle.

        Returns:
            The number of results submitted.
        """
        plan = WorkPlan(capabilities, min_credits=min_credits, concurrency=concurrency,
                        max_jobs=max_jobs)
        user_id = self._user_id()

        def stopped() -> bool:
            return plan.full or (stop is not None and stop.is_set())

        def run(job: Job) -> None:
            text = workers.answer(job)
            if text is None:
                return
            try:
                self.complete_job(job.job_id, text)
            except J0Error as exc:
                log.warning("job %d: result not accepted: %s", job.job_id, exc)
                return
            workers.count_completed()

        def take(job: Job) -> bool:
            if not workers.reserve(stop, poll_interval):
                return False
            try:
                accepted = self.accept_job(job.job_id)
            except J0Error as exc:
                workers.release()
                if is_lost_race(exc):
                    log.debug("job %d: lost the race (%s)", job.job_id, exc.code)
                else:
                    log.warning("job %d: could not accept: %s", job.job_id, exc)
                return True
            plan.accepted += 1
            workers.start(run, accepted)
            return True

        def found(item: Event | Connected | None) -> Generator[Job, None]:
            """The jobs to try after ``item``: every posted one after a (re)connect."""
            if isinstance(item, Connected):
                for capability in plan.capabilities:
                    for job in self.iter_jobs(
                        status="posted", capability=capability, page_size=100
                    ):
                        yield job
            elif isinstance(item, Event) and item.event == "job.posted":
                yield item.job

        with Workers(plan, handler) as workers, \
                self.events(plan.capabilities) as stream:
            while not stopped():
                item = stream._poll(poll_interval)
                with closing(found(item)) as jobs:
                    for job in jobs:
                        if stopped():
                            break
                        if plan.wants(job, user_id) and not take(job):
                            break
        return plan.completed


class EventStream(Iterator[Event], _Closing):
    """Iterator over the events addressed to the caller; see :meth:`J0Client.events`.

    On a dropped connection it reconnects with backoff, re-signing first if the token expired,
    and resumes with ``?since=<last id>`` so no event is lost or seen twice. The first
    connection fails after ``max_retries`` retries; later reconnects keep trying.
    ``{"event": "subscribed"}`` acknowledgements are consumed; an ``{"event": "error"}``
    answer raises :class:`~j0.ValidationError`.
    """

    def __init__(self, client: J0Client, cursor: StreamCursor) -> None:
        self._client = client
        self._cursor = cursor
        self._ws: ClientConnection | None = None
        self._connected_once = False
        self._announce = False
        self._closed = False

    @property
    def last_id(self) -> int | None:
        """Id of the last event received: pass it as ``since`` to resume elsewhere."""
        return self._cursor.last_id

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        while True:
            item = self._poll(None)
            if isinstance(item, Event):
                return item

    def __enter__(self) -> EventStream:
        self.connect()
        return self

    def connect(self) -> None:
        """Connect now (iteration otherwise connects on the first ``next``).

        Events that happen after this returns are delivered. Raises
        :class:`~j0.APIConnectionError` or the handshake's refusal after ``max_retries``.
        Does nothing when already connected.
        """
        if self._ws is None and not self._closed:
            self._connect()

    def close(self) -> None:
        """Close the connection; iteration ends."""
        self._closed = True
        if self._ws is not None:
            self._ws.close()

    def _poll(self, timeout: float | None) -> Event | Connected | None:
        """The next event, :data:`CONNECTED` after a (re)connect, or ``None`` on timeout."""
        if self._closed:
            raise StopIteration
        if self._ws is None:
            self._connect()
        if self._announce:
            self._announce = False
            return CONNECTED
        assert self._ws is not None
        try:
            raw = receive(self._ws, timeout)
        except ConnectionClosed as exc:
            self._ws = None
            if self._closed:
                raise StopIteration from None
            log.info("event stream closed (%s); reconnecting", exc)
            self._connect()
            self._announce = False
            return CONNECTED
        return None if raw is None else self._cursor.read(raw)

    def _connect(self) -> None:
        client = self._client
        failures = 0
        resigned = False
        while not self._closed:
            token = client._ensure_token()
            try:
                ws = connect_websocket(self._cursor.url(), token, client.timeout)
            except InvalidStatus as exc:
                error: J0Error = handshake_error(exc.response.status_code, exc.response.body or b"")
                if (isinstance(error, Unauthorized) and client._session.can_sign
                        and not resigned):
                    resigned = True
                    client._session.discard(token)
                    continue
                if not is_retryable(error):
                    raise error from exc
            except APIConnectionError as exc:
                error = exc
            else:
                self._ws = ws
                self._connected_once = True
                self._announce = True
                message = self._cursor.subscribe_message()
                if message is not None:
                    ws.send(message)
                return
            if not self._connected_once and failures >= client.max_retries:
                raise error
            delay = retry_delay(error, min(failures, 10))
            failures += 1
            sleep(delay)
        raise StopIteration
