"""The asyncio client, on :class:`httpx.AsyncClient` and websockets' asyncio client."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import TypeVar, Union

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from ._base import (
    CONNECTED,
    DEFAULT_PAGE_SIZE,
    USER_AGENT,
    WS_MAX_MESSAGE_BYTES,
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
    ws_auth_headers,
)
from ._errors import (
    APIConnectionError,
    ChallengeUsed,
    J0Error,
    Unauthorized,
)
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

AsyncHandler = Callable[[Job], Union[str, None, Awaitable[Union[str, None]]]]
"""A worker's handler for :meth:`AsyncJ0Client.work`: a coroutine function, or a plain
function (run in a worker thread so it cannot block the event loop)."""


class AsyncJ0Client(BaseClient):
    """Asyncio client of the j0 API v1: the surface of :class:`~j0.J0Client` as coroutines.

    Takes the same arguments as :class:`~j0.J0Client`. The constructor makes no request. Use
    it as an async context manager or ``await client.aclose()`` when done.
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
        self._sign_in_lock = asyncio.Lock()

    # Lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncJ0Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Transport ---------------------------------------------------------------------------

    async def _send(self, call: Call[T], attempts: Attempts | None = None) -> T:
        attempts = attempts or Attempts(self.max_retries)
        while True:
            headers = dict(call.headers)
            token = await self._ensure_token() if call.authenticated else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = await self._http.request(call.method, call.path, params=call.params,
                                                    json=call.json, headers=headers)
            except httpx.TransportError as exc:
                attempts.note_transport_failure(exc)
                error: J0Error = connection_error(exc)
                delay = attempts.next_delay(error)
                if delay is None:
                    raise error from exc
                await asyncio.sleep(delay)
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
            await asyncio.sleep(delay)

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
            self._session.user_id = (await self.me()).id
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

    # Authentication and users --------------------------------------------------------------

    async def authenticate(self) -> User:
        """Sign in with the private key: one challenge, one signature, one verify."""
        async with self._sign_in_lock:
            return await self._sign_in()

    async def logout(self) -> None:
        """Revoke the current token on the server and forget it (no-op without a token)."""
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
        """One page of the credit history, newest first (see :meth:`J0Client.transactions`)."""
        return await self._send(Calls.transactions(limit, before))

    async def iter_transactions(
        self, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Transaction]:
        """Every row of the credit history, newest first, fetched page by page."""
        size = page_size_of(page_size)
        before: int | None = None
        while True:
            page = await self.transactions(limit=size, before=before)
            for row in page:
                yield row
            before = next_before(page, size, lambda t: t.id)
            if before is None:
                return

    async def buy_credits(self, amount_usd: int) -> Checkout:
        """Start a Stripe purchase; send the user to the returned ``checkout_url``."""
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
        """Post a job (see :meth:`J0Client.post_job`)."""
        return await self._send(
            Calls.post_job(capability, credits, timeout, prompt, idempotency_key))

    async def list_jobs(
        self,
        status: JobStatus | None = None,
        capability: str | None = None,
        requester_id: int | None = None,
        worker_id: int | None = None,
        limit: int | None = None,
        before: int | None = None,
    ) -> list[Job]:
        """One page of jobs, newest first, filtered by any of the arguments."""
        return await self._send(
            Calls.list_jobs(status, capability, requester_id, worker_id, limit, before))

    async def iter_jobs(
        self,
        status: JobStatus | None = None,
        capability: str | None = None,
        requester_id: int | None = None,
        worker_id: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Job]:
        """Every matching job, newest first, fetched page by page following ``before``."""
        size = page_size_of(page_size)
        before: int | None = None
        while True:
            page = await self.list_jobs(status, capability, requester_id, worker_id, size,
                                        before)
            for job in page:
                yield job
            before = next_before(page, size, lambda j: j.job_id)
            if before is None:
                return

    async def get_job(self, id: int) -> Job:
        """One job, as the caller may see it."""
        return await self._send(Calls.get_job(id))

    async def accept_job(self, id: int) -> Job:
        """Accept a posted job (see :meth:`J0Client.accept_job`)."""
        return await self._act(Calls.accept_job(id))

    async def complete_job(self, id: int, result: str) -> Completed:
        """Submit the result of an accepted job (see :meth:`J0Client.complete_job`)."""
        return await self._act(Calls.complete_job(id, result))

    async def cancel_job(self, id: int) -> Cancelled:
        """Cancel a job nobody has accepted yet; its credits are refunded."""
        return await self._act(Calls.cancel_job(id))

    # Events --------------------------------------------------------------------------------

    def events(
        self, capabilities: Iterable[str] | None = None, since: int | None = None
    ) -> AsyncEventStream:
        """Open the real-time event stream as an async iterator (see :meth:`J0Client.events`).

        ``async with`` connects on entry (else the first ``__anext__`` or ``await
        stream.connect()`` does) and closes on exit; or call ``await stream.aclose()``.
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

        Behaves like :meth:`J0Client.work`. An ``async def`` handler runs on the event loop
        and is cancelled when the job's deadline (minus 1 s) passes; a plain function runs in
        a worker thread. ``stop`` is typically an :class:`asyncio.Event`.

        Returns:
            The number of results submitted.
        """
        plan = WorkPlan(capabilities, min_credits=min_credits, concurrency=concurrency,
                        max_jobs=max_jobs)
        user_id = await self._user_id()
        slots = asyncio.Semaphore(plan.concurrency)
        running: set[asyncio.Task[None]] = set()

        def stopped() -> bool:
            return plan.full or (stop is not None and stop.is_set())

        async def handle(job: Job) -> object:
            outcome: object = (handler(job) if inspect.iscoroutinefunction(handler)
                               else await asyncio.to_thread(handler, job))
            if inspect.isawaitable(outcome):
                outcome = await asyncio.wait_for(outcome, timeout=max(plan.seconds_left(job), 0))
            return outcome

        async def run(job: Job) -> None:
            try:
                try:
                    result = await handle(job)
                except asyncio.TimeoutError:
                    log.warning("job %d: handler missed the deadline; not submitting", job.job_id)
                    return
                except Exception:
                    log.exception("job %d: handler failed; not submitting", job.job_id)
                    return
                text = plan.submittable(job, result)
                if text is None:
                    return
                try:
                    await self.complete_job(job.job_id, text)
                except J0Error as exc:
                    log.warning("job %d: result not accepted: %s", job.job_id, exc)
                    return
                plan.completed += 1
            finally:
                slots.release()

        async def take(job: Job) -> bool:
            while True:
                try:
                    await asyncio.wait_for(slots.acquire(), timeout=poll_interval)
                    break
                except asyncio.TimeoutError:
                    if stop is not None and stop.is_set():
                        return False
            try:
                accepted = await self.accept_job(job.job_id)
            except J0Error as exc:
                slots.release()
                if is_lost_race(exc):
                    log.debug("job %d: lost the race (%s)", job.job_id, exc.code)
                else:
                    log.warning("job %d: could not accept: %s", job.job_id, exc)
                return True
            plan.accepted += 1
            task = asyncio.create_task(run(accepted))
            running.add(task)
            task.add_done_callback(running.discard)
            return True

        try:
            async with self.events(plan.capabilities) as stream:
                while not stopped():
                    item = await stream._poll(poll_interval)
                    found: list[Job]
                    if isinstance(item, Connected):
                        found = [job for capability in plan.capabilities
                                 async for job in self.iter_jobs(
                                     status="posted", capability=capability, page_size=100)]
                    elif isinstance(item, Event) and item.event == "job.posted":
                        found = [item.job]
                    else:
                        continue
                    for job in found:
                        if stopped():
                            break
                        if plan.wants(job, user_id) and not await take(job):
                            break
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        return plan.completed


class AsyncEventStream(AsyncIterator[Event]):
    """Async iterator over the events addressed to the caller; see :class:`~j0.EventStream`."""

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
        """Connect now (iteration otherwise connects on the first ``__anext__``).

        Events that happen after this returns are delivered. Does nothing when connected.
        """
        if self._ws is None and not self._closed:
            await self._connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

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
            raw = await asyncio.wait_for(self._ws.recv(), timeout=timeout)
        except asyncio.TimeoutError:
            return None
        except ConnectionClosed as exc:
            self._ws = None
            if self._closed:
                raise StopAsyncIteration from None
            log.info("event stream closed (%s); reconnecting", exc)
            await self._connect()
            self._announce = False
            return CONNECTED
        return self._cursor.read(raw)

    async def _connect(self) -> None:
        client = self._client
        failures = 0
        resigned = False
        while not self._closed:
            token = await client._ensure_token()
            try:
                ws = await connect(
                    self._cursor.url(),
                    additional_headers=ws_auth_headers(token),
                    user_agent_header=USER_AGENT,
                    open_timeout=client.timeout,
                    max_size=WS_MAX_MESSAGE_BYTES,
                    proxy=None,
                )
            except InvalidStatus as exc:
                error: J0Error = handshake_error(exc.response.status_code, exc.response.body or b"")
                if (isinstance(error, Unauthorized) and client._session.can_sign
                        and not resigned):
                    resigned = True
                    client._session.discard(token)
                    continue
                if not is_retryable(error):
                    raise error from exc
            except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
                error = APIConnectionError(f"WebSocket connection failed: {exc!r}")
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
            await asyncio.sleep(delay)
        raise StopAsyncIteration
