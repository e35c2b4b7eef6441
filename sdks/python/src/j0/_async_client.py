"""The asyncio client, on :class:`httpx.AsyncClient` and websockets' asyncio client.

This module is also the source of the sync client: ``hatch_build.py`` generates
:mod:`j0._client` from it whenever the package is built or installed, by taking out
``async``/``await``, dropping the ``Async`` of names and reading :mod:`j0._sync_io` where this
module reads :mod:`j0._async_io`. Write it so that what remains is the sync client.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import aclosing
from types import TracebackType
from typing import Protocol, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ._async_io import (
    AsyncHandler,
    AsyncWorkers,
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

__all__ = ["AsyncJ0Client", "AsyncEventStream"]

T = TypeVar("T")
P = TypeVar("P")


class _Closable(Protocol):
    """Anything with an ``aclose`` coroutine."""

    async def aclose(self) -> None: ...


class _AsyncClosing:
    """Mixin: the end of an ``async with`` block closes the object, with its ``aclose``."""

    async def __aexit__(
        self: _Closable,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncJ0Client(BaseClient, _AsyncClosing):
    """Asyncio client of the j0 API v1: the surface of :class:`~j0.J0Client` as coroutines.

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

    The constructor makes no request. Use it as an async context manager or
    ``await client.aclose()`` when done.
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
        self._http = httpx.AsyncClient(**self._http_options())
        self._sign_in_lock = Lock()

    # Lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncJ0Client:
        return self

    # Transport ---------------------------------------------------------------------------

    async def _send(self, call: Call[T], attempts: Attempts | None = None) -> T:
        attempts = attempts or Attempts(self.max_retries)
        while True:
            headers = dict(call.headers)
            token = await self._ensure_token() if call.authenticated else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=headers)
            except httpx.TransportError as exc:
                attempts.note_transport_failure(exc)
                error: J0Error = connection_error(exc)
                delay = attempts.next_delay(error)
                if delay is None:
                    raise error from exc
                await sleep(delay)
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
            await sleep(delay)

    async def _ensure_token(self) -> str:
        token = self._session.usable_token()
        if token is not None:
            return token
        async with self._sign_in_lock:
            token = self._session.usable_token()
            if token is None:
                await self._sign_in()
                token = self._session.token
        assert token is not None
        return token

    async def _sign_in(self) -> User:
        challenge = await self._send(self._session.challenge_call())
        attempts = Attempts(self.max_retries)
        try:
            verified = await self._send(self._session.verify_call(challenge), attempts)
        except ChallengeUsed:
            if not attempts.answer_lost:
                raise
            # The first verify went through but its answer was lost: sign in afresh.
            challenge = await self._send(self._session.challenge_call())
            verified = await self._send(self._session.verify_call(challenge))
        return self._session.store(verified)

    async def _user_id(self) -> int:
        if self._session.user_id is None:
            user = await self.me()
            self._session.user_id = user.id
        return self._session.user_id

    async def _act(self, call: Call[T]) -> T:
        """Send a job action; if its answer was lost, recover what the first attempt did.

        When an attempt may have reached the server unanswered and the retry is refused with
        the call's recovery refusal, the job is read back: if it shows that the action took
        effect, its result is returned, otherwise the refusal is raised.
        """
        attempts = Attempts(self.max_retries)
        try:
            return await self._send(call, attempts)
        except J0Error as refused:
            recovery = call.recovery
            if (recovery is None or not attempts.answer_lost
                    or not isinstance(refused, recovery.refusal)):
                raise
            done = recovery.result(await self.get_job(recovery.job_id), await self._user_id())
            if done is None:
                raise
            return done

    async def _pages(
        self, page: Callable[[int | None], Call[list[P]]], size: int, id_of: Callable[[P], int]
    ) -> AsyncIterator[P]:
        """Every item of the pages ``page(before)`` asks for, following ``before`` to the end."""
        before: int | None = None
        while True:
            items = await self._send(page(before))
            for item in items:
                yield item
            before = next_before(items, size, id_of)
            if before is None:
                return

    # Authentication and users --------------------------------------------------------------

    async def authenticate(self) -> User:
        """Sign in with the private key: one challenge, one signature, one verify.

        Returns the signed-in user (created on the first sign-in of a wallet).
        """
        async with self._sign_in_lock:
            return await self._sign_in()

    async def logout(self) -> None:
        """Revoke the current token on the server and forget it.

        With a private key the next call signs in again. Does nothing without a token.
        """
        token = self._session.token
        if token is None:
            return
        try:
            await self._send(Calls.logout(), Attempts(self.max_retries))
        except Unauthorized:
            pass  # already revoked or expired: the goal is reached
        finally:
            self._session.discard(token)

    async def me(self) -> User:
        """The signed-in user."""
        user = await self._send(Calls.me())
        self._session.user_id = user.id
        return user

    async def user(self, id: int) -> PublicUser:
        """Any user's public profile."""
        return await self._send(Calls.user(id))

    # Credits -------------------------------------------------------------------------------

    async def get_balance(self) -> Balance:
        """The caller's credit balance in cents."""
        return await self._send(Calls.balance())

    async def transactions(
        self, limit: int | None = None, before: int | None = None
    ) -> list[Transaction]:
        """One page of the credit history, newest first.

        Args:
            limit: rows per page (server default 50, capped at 100).
            before: only rows with a smaller id (the smallest id of the previous page).
        """
        return await self._send(Calls.transactions(limit, before))

    async def iter_transactions(
        self, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Transaction]:
        """Every row of the credit history, newest first, fetched page by page."""
        size = page_size_of(page_size)
        async for row in self._pages(
            lambda before: Calls.transactions(size, before), size, lambda row: row.id
        ):
            yield row

    async def buy_credits(self, amount_usd: int) -> Checkout:
        """Start a Stripe purchase; send the user to the returned ``checkout_url``.

        ``amount_usd`` is one of 5, 10, 20, 50, 100; each dollar credits 95 cents once paid.
        """
        return await self._send(Calls.checkout(amount_usd))

    async def deposit_address(self) -> DepositAddress:
        """The caller's USDC deposit address on Base."""
        return await self._send(Calls.deposit_address())

    # Jobs ----------------------------------------------------------------------------------

    async def post_job(
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
        return await self._send(
            Calls.post_job(capability, credits, timeout, prompt, idempotency_key))

    async def list_jobs(
        self, status: JobStatus | None = None, capability: str | None = None,
        requester_id: int | None = None, worker_id: int | None = None,
        limit: int | None = None, before: int | None = None,
    ) -> list[Job]:
        """One page of jobs, newest first, filtered by any of the arguments."""
        return await self._send(
            Calls.list_jobs(status, capability, requester_id, worker_id, limit, before))

    async def iter_jobs(
        self, status: JobStatus | None = None, capability: str | None = None,
        requester_id: int | None = None, worker_id: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Job]:
        """Every matching job, newest first, fetched page by page following ``before``."""
        size = page_size_of(page_size)
        async for job in self._pages(
            lambda before: Calls.list_jobs(status, capability, requester_id, worker_id, size,
                                           before),
            size, lambda job: job.job_id,
        ):
            yield job

    async def get_job(self, id: int) -> Job:
        """One job, as the caller may see it."""
        return await self._send(Calls.get_job(id))

    async def accept_job(self, id: int) -> Job:
        """Accept a posted job (first to accept wins); returns it with the full prompt.

        Raises :class:`~j0.JobAlreadyAccepted`, :class:`~j0.JobExpired` or
        :class:`~j0.JobNotAvailable` when the race is lost. If an attempt's answer was lost
        and the retry hears ``JOB_ALREADY_ACCEPTED``, the job is read back and returned when
        this user is its worker.
        """
        return await self._act(Calls.accept_job(id))

    async def complete_job(self, id: int, result: str) -> Completed:
        """Submit the result of an accepted job; the worker is paid ``floor(credits*9/10)``."""
        return await self._act(Calls.complete_job(id, result))

    async def cancel_job(self, id: int) -> Cancelled:
        """Cancel a job nobody has accepted yet; its credits are refunded."""
        return await self._act(Calls.cancel_job(id))

    # Events --------------------------------------------------------------------------------

    def events(
        self, capabilities: Iterable[str] | None = None, since: int | None = None
    ) -> AsyncEventStream:
        """Open the real-time event stream.

        Args:
            capabilities: limit ``job.posted`` to these capabilities (other events are never
                filtered); ``None`` for all.
            since: resume after this event id (replays what came after it).

        Returns an async iterator of :class:`~j0.Event` that reconnects by itself, resuming
        after the last event it received. ``async with`` connects on entry (else the first
        ``anext`` or ``await stream.connect()`` does) and closes on exit; or call
        ``await stream.aclose()``.
        """
        return AsyncEventStream(self, StreamCursor(self.ws_url, capabilities, since))

    # Worker --------------------------------------------------------------------------------

    async def work(
        self,
        capabilities: Iterable[str],
        handler: AsyncHandler,
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
        ``min_credits`` are skipped; lost races are skipped quietly. ``handler(job)`` returns
        the result, at most ``concurrency`` jobs at once: an ``async def`` handler runs on the
        event loop and is cancelled when the job's deadline (minus 1 s) passes, a plain
        function runs in a worker thread. A handler that raises or returns ``None``, a result
        over 100,000 characters, or one ready less than 1 s before the job's ``expires_at`` is
        not submitted (the job times out and the requester is refunded).

        Args:
            max_jobs: return after this many jobs were accepted and handled.
            stop: return (after in-flight jobs finish) once ``stop.is_set()``, e.g. an
                :class:`asyncio.Event`.
            poll_interval: how often, in seconds, ``stop`` is checked while idle.

        Returns:
            The number of results submitted.
        """
        plan = WorkPlan(capabilities, min_credits=min_credits, concurrency=concurrency,
                        max_jobs=max_jobs)
        user_id = await self._user_id()

        def stopped() -> bool:
            return plan.full or (stop is not None and stop.is_set())

        async def run(job: Job) -> None:
            text = await workers.answer(job)
            if text is None:
                return
            try:
                await self.complete_job(job.job_id, text)
            except J0Error as exc:
                log.warning("job %d: result not accepted: %s", job.job_id, exc)
                return
            workers.count_completed()

        async def take(job: Job) -> bool:
            if not await workers.reserve(stop, poll_interval):
                return False
            try:
                accepted = await self.accept_job(job.job_id)
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

        async def found(item: Event | Connected | None) -> AsyncGenerator[Job, None]:
            """The jobs to try after ``item``: every posted one after a (re)connect."""
            if isinstance(item, Connected):
                for capability in plan.capabilities:
                    async for job in self.iter_jobs(
                        status="posted", capability=capability, page_size=100
                    ):
                        yield job
            elif isinstance(item, Event) and item.event == "job.posted":
                yield item.job

        async with AsyncWorkers(plan, handler) as workers, \
                self.events(plan.capabilities) as stream:
            while not stopped():
                item = await stream._poll(poll_interval)
                async with aclosing(found(item)) as jobs:
                    async for job in jobs:
                        if stopped():
                            break
                        if plan.wants(job, user_id) and not await take(job):
                            break
        return plan.completed


class AsyncEventStream(AsyncIterator[Event], _AsyncClosing):
    """Async iterator over the events addressed to the caller; see :meth:`AsyncJ0Client.events`.

    On a dropped connection it reconnects with backoff, re-signing first if the token expired,
    and resumes with ``?since=<last id>`` so no event is lost or seen twice. The first
    connection fails after ``max_retries`` retries; later reconnects keep trying.
    ``{"event": "subscribed"}`` acknowledgements are consumed; an ``{"event": "error"}``
    answer raises :class:`~j0.ValidationError`.
    """

    def __init__(self, client: AsyncJ0Client, cursor: StreamCursor) -> None:
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

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            item = await self._poll(None)
            if isinstance(item, Event):
                return item

    async def __aenter__(self) -> AsyncEventStream:
        await self.connect()
        return self

    async def connect(self) -> None:
        """Connect now (iteration otherwise connects on the first ``anext``).

        Events that happen after this returns are delivered. Raises
        :class:`~j0.APIConnectionError` or the handshake's refusal after ``max_retries``.
        Does nothing when already connected.
        """
        if self._ws is None and not self._closed:
            await self._connect()

    async def aclose(self) -> None:
        """Close the connection; iteration ends."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    async def _poll(self, timeout: float | None) -> Event | Connected | None:
        """The next event, :data:`CONNECTED` after a (re)connect, or ``None`` on timeout."""
        if self._closed:
            raise StopAsyncIteration
        if self._ws is None:
            await self._connect()
        if self._announce:
            self._announce = False
            return CONNECTED
        assert self._ws is not None
        try:
            raw = await receive(self._ws, timeout)
        except ConnectionClosed as exc:
            self._ws = None
            if self._closed:
                raise StopAsyncIteration from None
            log.info("event stream closed (%s); reconnecting", exc)
            await self._connect()
            self._announce = False
            return CONNECTED
        return None if raw is None else self._cursor.read(raw)

    async def _connect(self) -> None:
        client = self._client
        failures = 0
        resigned = False
        while not self._closed:
            token = await client._ensure_token()
            try:
                ws = await connect_websocket(self._cursor.url(), token, client.timeout)
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
                    await ws.send(message)
                return
            if not self._connected_once and failures >= client.max_retries:
                raise error
            delay = retry_delay(error, min(failures, 10))
            failures += 1
            await sleep(delay)
        raise StopAsyncIteration
