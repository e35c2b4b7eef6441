"""Fixtures: real j0 servers (one per configuration, shared by the session) and clients.

Every server gets a fresh database; its teardown audits the ledger (``j0 admin
audit-ledger`` must exit 0) before stopping the server and dropping the database.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account

from j0 import AsyncJ0Client, J0Client
from j0_server import J0Server

PROMO_CENTS = 1000
"""Promo credits every new user of the test servers gets on first sign-in."""


def serve(env: dict[str, str]) -> Iterator[J0Server]:
    """Run a server for a fixture; audit its ledger at teardown."""
    server = J0Server(env).start()
    try:
        yield server
    finally:
        audit = server.audit_ledger()
        server.stop()
    assert audit.returncode == 0, f"ledger audit failed:\n{audit.stdout}{audit.stderr}"


@pytest.fixture(scope="session")
def server() -> Iterator[J0Server]:
    """Limits off; every new user gets promo credits."""
    yield from serve({"J0_SIGNUP_PROMO_CENTS": str(PROMO_CENTS)})


@pytest.fixture(scope="session")
def limited_server() -> Iterator[J0Server]:
    """60 requests per minute per user (a budget of 60, then ~1 s per request)."""
    yield from serve({"J0_SIGNUP_PROMO_CENTS": str(PROMO_CENTS), "J0_RATE_USER_PER_MIN": "60"})


@pytest.fixture(scope="session")
def short_server() -> Iterator[J0Server]:
    """A cap of 2 open jobs per worker, a 3 s acceptance window, and Stripe configured but
    unreachable (so checkout fails with 503 and webhooks check their signature)."""
    yield from serve({
        "J0_SIGNUP_PROMO_CENTS": str(PROMO_CENTS),
        "J0_MAX_OPEN_JOBS_PER_WORKER": "2",
        "J0_ACCEPT_WINDOW_SEC": "3",
        "STRIPE_SECRET_KEY": "sk_test_j0_sdk_python",
        "STRIPE_WEBHOOK_SECRET": "whsec_j0_sdk_python",
        "J0_STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}",
    })


def free_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_key() -> str:
    """A fresh random private key, 0x-hex."""
    return "0x" + bytes(Account.create().key).hex()


ClientFactory = Callable[..., J0Client]
AsyncClientFactory = Callable[..., AsyncJ0Client]


def _factory(cls: type[Any], server: J0Server, made: list[Any]) -> Callable[..., Any]:
    def make(private_key: str | None = "new", **options: Any) -> Any:
        options.setdefault("base_url", server.base_url)
        key = new_key() if private_key == "new" else private_key
        client = cls(key, **options)
        made.append(client)
        return client

    return make


@pytest.fixture
def make_client(server: J0Server) -> Iterator[ClientFactory]:
    """``make_client(**options)``: a sync client of a fresh wallet on the default server."""
    made: list[J0Client] = []
    yield _factory(J0Client, server, made)
    for client in made:
        client.close()


@pytest_asyncio.fixture
async def make_async_client(server: J0Server) -> AsyncIterator[AsyncClientFactory]:
    """``make_async_client(**options)``: an async client of a fresh wallet."""
    made: list[AsyncJ0Client] = []
    yield _factory(AsyncJ0Client, server, made)
    for client in made:
        await client.aclose()
