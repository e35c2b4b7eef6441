"""What the asyncio client waits with: the asyncio side of :mod:`j0._sync_io`.

The two clients are the same code but for ``async``/``await`` and the ``Async`` of names. What
differs between asyncio and threads by more than that lives here and in :mod:`j0._sync_io`,
under the same names.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Union

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from ._base import StopSignal, WorkPlan, log, ws_connect_options
from ._errors import APIConnectionError
from ._models import Job

__all__ = ["AsyncHandler", "AsyncWorkers", "ClientConnection", "Lock", "connect_websocket",
           "receive", "sleep"]

AsyncHandler = Callable[[Job], Union[str, None, Awaitable[Union[str, None]]]]
"""A worker's handler for :meth:`AsyncJ0Client.work`: a coroutine function, or a plain
function (run in a worker thread so it cannot block the event loop)."""

Lock = asyncio.Lock
sleep = asyncio.sleep


async def connect_websocket(url: str, token: str, timeout: float) -> ClientConnection:
    """Open the event stream's WebSocket.

    A refused handshake raises websockets' ``InvalidStatus``; any other failure raises
    :class:`~j0.APIConnectionError`.
    """
    try:
        return await connect(url, **ws_connect_options(token, timeout))
    except InvalidStatus:
        raise
    except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
        raise APIConnectionError(f"WebSocket connection failed: {exc!r}") from exc


async def receive(ws: ClientConnection, timeout: float | None) -> str | bytes | None:
    """The next message, or ``None`` if none came within ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(ws.recv(), timeout=timeout)
    except asyncio.TimeoutError:
        return None


class AsyncWorkers:
    """The handlers of :meth:`AsyncJ0Client.work`: tasks, at most ``plan.concurrency`` at once.

    An ``async def`` handler runs on the event loop and is cancelled when the job's deadline
    (minus 1 s) passes; a plain function runs in a worker thread. Leaving the ``async with``
    block waits for the jobs in flight.
    """

    def __init__(self, plan: WorkPlan, handler: AsyncHandler) -> None:
        self._plan = plan
        self._handler = handler
        self._slots = asyncio.Semaphore(plan.concurrency)
        self._running: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> AsyncWorkers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def reserve(self, stop: StopSignal | None, poll_interval: float) -> bool:
        """Wait for a free slot, checking ``stop`` every ``poll_interval`` s; False once set."""
        while True:
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=poll_interval)
                return True
            except asyncio.TimeoutError:
                if stop is not None and stop.is_set():
                    return False

    def release(self) -> None:
        """Give back a reserved slot that :meth:`start` will not use."""
        self._slots.release()

    def start(self, work: Callable[[Job], Awaitable[None]], job: Job) -> None:
        """Run ``work(job)`` in the reserved slot, which it gives back when done."""
        task = asyncio.create_task(self._in_slot(work, job))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _in_slot(self, work: Callable[[Job], Awaitable[None]], job: Job) -> None:
        try:
            await work(job)
        finally:
            self._slots.release()

    async def answer(self, job: Job) -> str | None:
        """The handler's result for ``job`` if it may be submitted, else ``None`` (logged)."""
        try:
            result = await self._run_handler(job)
        except asyncio.TimeoutError:
            log.warning("job %d: handler missed the deadline; not submitting", job.job_id)
            return None
        except Exception:
            log.exception("job %d: handler failed; not submitting", job.job_id)
            return None
        return self._plan.submittable(job, result)

    async def _run_handler(self, job: Job) -> object:
        handler = self._handler
        outcome: object = (handler(job) if inspect.iscoroutinefunction(handler)
                           else await asyncio.to_thread(handler, job))
        if inspect.isawaitable(outcome):
            outcome = await asyncio.wait_for(outcome, timeout=max(self._plan.seconds_left(job), 0))
        return outcome

    def count_completed(self) -> None:
        """Count one submitted result."""
        self._plan.completed += 1
