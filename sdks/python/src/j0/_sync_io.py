"""What the sync client waits with: the threads side of :mod:`j0._async_io`.

The sync client imports these where the asyncio client imports their asyncio twins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from ._base import StopSignal, WorkPlan, log, ws_connect_options
from ._errors import APIConnectionError
from ._models import Job

__all__ = ["ClientConnection", "Handler", "Lock", "Workers", "connect_websocket", "receive",
           "sleep"]

Handler = Callable[[Job], "str | None"]
"""A worker's handler: takes the accepted job (full prompt), returns the result or ``None``."""

Lock = threading.Lock
sleep = time.sleep


def connect_websocket(url: str, token: str, timeout: float) -> ClientConnection:
    """Open the event stream's WebSocket.

    A refused handshake raises websockets' ``InvalidStatus``; any other failure raises
    :class:`~j0.APIConnectionError`.
    """
    try:
        # Entered as a context manager, which websockets >= 17 asks of long-lived sync
        # connections; closing it is left to the stream's close() and to the server.
        ws: ClientConnection = connect(url, **ws_connect_options(token, timeout)).__enter__()
    except InvalidStatus:
        raise
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise APIConnectionError(f"WebSocket connection failed: {exc!r}") from exc
    return ws


def receive(ws: ClientConnection, timeout: float | None) -> str | bytes | None:
    """The next message, or ``None`` if none came within ``timeout`` seconds."""
    try:
        return ws.recv(timeout=timeout)
    except TimeoutError:
        return None


class Workers:
    """The handlers of :meth:`J0Client.work`: a pool of ``plan.concurrency`` threads.

    Leaving the ``with`` block waits for the jobs in flight.
    """

    def __init__(self, plan: WorkPlan, handler: Handler) -> None:
        self._plan = plan
        self._handler = handler
        self._slots = threading.BoundedSemaphore(plan.concurrency)
        self._tally = threading.Lock()
        self._pool = ThreadPoolExecutor(plan.concurrency, thread_name_prefix="j0-worker")

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True)

    def reserve(self, stop: StopSignal | None, poll_interval: float) -> bool:
        """Wait for a free slot, checking ``stop`` every ``poll_interval`` s; False once set."""
        while not self._slots.acquire(timeout=poll_interval):
            if stop is not None and stop.is_set():
                return False
        return True

    def release(self) -> None:
        """Give back a reserved slot that :meth:`start` will not use."""
        self._slots.release()

    def start(self, work: Callable[[Job], None], job: Job) -> None:
        """Run ``work(job)`` in the reserved slot, which it gives back when done."""
        self._pool.submit(self._in_slot, work, job)

    def _in_slot(self, work: Callable[[Job], None], job: Job) -> None:
        try:
            work(job)
        finally:
            self._slots.release()

    def answer(self, job: Job) -> str | None:
        """The handler's result for ``job`` if it may be submitted, else ``None`` (logged)."""
        try:
            result = self._handler(job)
        except Exception:
            log.exception("job %d: handler failed; not submitting", job.job_id)
            return None
        return self._plan.submittable(job, result)

    def count_completed(self) -> None:
        """Count one submitted result (handlers finish on several threads)."""
        with self._tally:
            self._plan.completed += 1
