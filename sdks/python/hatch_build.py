"""Build hook: generates the sync client, ``src/j0/_client.py``, from the asyncio one.

``src/j0/_async_client.py`` is the one implementation of both clients. The sync client is the
same code with ``async`` and ``await`` taken out, the ``Async`` dropped from names
(``AsyncJ0Client`` → ``J0Client``, ``AsyncIterator`` → ``Iterator``, ``__aexit__`` →
``__exit__``, ``aclose`` → ``close``) and :mod:`j0._sync_io` read where the asyncio client reads
:mod:`j0._async_io`; the few passages of prose and code that say something else for the sync
client are swapped whole (:data:`PASSAGES`). Hatchling runs the hook for every build, so the
wheel, the sdist and editable installs (``pip install -e``) all carry a current
``_client.py``; git ignores the file, and ``tests/test_unit.py`` checks that the one imported
is what this hook makes of the source. After editing the asyncio client, reinstall (or run
``python hatch_build.py``) to refresh it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/j0/_async_client.py")
TARGET = Path("src/j0/_client.py")

HEADER = (
    "# Generated from _async_client.py by hatch_build.py when the package is built or\n"
    "# installed. Do not edit: change _async_client.py and reinstall.\n"
)

PASSAGES: list[tuple[str, str]] = [
    (
        '''"""The asyncio client, on :class:`httpx.AsyncClient` and websockets' asyncio client.

This module is also the source of the sync client: ``hatch_build.py`` generates
:mod:`j0._client` from it whenever the package is built or installed, by taking out
``async``/``await``, dropping the ``Async`` of names and reading :mod:`j0._sync_io` where this
module reads :mod:`j0._async_io`. Write it so that what remains is the sync client.
"""''',
        '''"""The synchronous client, on :class:`httpx.Client` and websockets' sync client."""''',
    ),
    (
        "Asyncio client of the j0 API v1: the surface of :class:`~j0.J0Client` as coroutines.",
        "Synchronous client of the j0 API v1.",
    ),
    (
        """    The constructor makes no request. Use it as an async context manager or
    ``await client.aclose()`` when done.""",
        """    The constructor makes no request. The client is thread-safe; use it as a context manager
    or call :meth:`close` when done.""",
    ),
    (
        '''    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

''',
        "",
    ),
    (
        """        Returns an async iterator of :class:`~j0.Event` that reconnects by itself, resuming
        after the last event it received. ``async with`` connects on entry (else the first
        ``anext`` or ``await stream.connect()`` does) and closes on exit; or call
        ``await stream.aclose()``.""",
        """        Returns an iterator of :class:`~j0.Event` that reconnects by itself, resuming after the
        last event it received. Use it as a context manager (which connects on entry) or
        call ``connect()``/``close()`` yourself.""",
    ),
    (
        """``handler(job)`` returns
        the result, at most ``concurrency`` jobs at once: an ``async def`` handler runs on the
        event loop and is cancelled when the job's deadline (minus 1 s) passes, a plain
        function runs in a worker thread. A handler that raises or returns ``None``, a result
        over 100,000 characters, or one ready less than 1 s before the job's ``expires_at`` is
        not submitted (the job times out and the requester is refunded).""",
        """``handler(job)`` runs in
        a thread pool of ``concurrency`` threads and returns the result; a handler that
        raises or returns ``None``, a result over 100,000 characters, or one ready less than
        1 s before the job's ``expires_at`` is not submitted (the job times out and the
        requester is refunded).""",
    ),
    ("e.g. an\n                :class:`asyncio.Event`.", "e.g. a\n                :class:`threading.Event`."),
    ("Async iterator over the events", "Iterator over the events"),
]
"""Passages of the asyncio client and what the sync client says instead; each must occur."""

WORDS: list[tuple[str, str]] = [
    (r"\basync (def|with|for)\b", r"\1"),
    (r"\bawait ", ""),
    (r"(?<![A-Za-z0-9])Async(?=[A-Z])", ""),
    (r"\b__a(enter|exit|iter|next)__\b", r"__\1__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\baclosing\b", "closing"),
    (r"\banext\b", "next"),
    (r"\b_async_io\b", "_sync_io"),
]
"""Word-level rewrites, applied in order to all of the module after :data:`PASSAGES`."""


def unasync(source: str) -> str:
    """The sync client's module for the asyncio client's ``source``."""
    for passage, replacement in PASSAGES:
        if passage not in source:
            raise ValueError(f"{SOURCE}: the passage to rewrite is gone: {passage[:60]!r}...")
        source = source.replace(passage, replacement)
    for pattern, replacement in WORDS:
        source = re.sub(pattern, replacement, source)
    return HEADER + source


def generate(root: Path) -> None:
    """Write ``TARGET`` under ``root`` from ``SOURCE``, unless it is current already."""
    generated = unasync((root / SOURCE).read_text(encoding="utf-8"))
    target = root / TARGET
    if not target.exists() or target.read_text(encoding="utf-8") != generated:
        target.write_text(generated, encoding="utf-8")


class GenerateSyncClient(BuildHookInterface[BuilderConfig]):
    """Hatchling's custom build hook (``[tool.hatch.build.hooks.custom]``)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        generate(Path(self.root))


if __name__ == "__main__":
    generate(Path(__file__).parent)
