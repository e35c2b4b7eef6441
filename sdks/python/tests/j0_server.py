"""Start a real ``j0 serve`` on a fresh database, for the tests and for scripts/test.sh.

Standard library only, so it also runs outside the SDK's virtualenv. As a script it starts a
server, prints its base URL on stdout and keeps it running until stdin closes or it gets
SIGTERM; then it audits the ledger (exit 1 on a breach), stops the server and drops the
database.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_DIR.parents[1]
DEFAULT_MAINTENANCE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_SEC = 90.0


def j0_binary() -> str:
    """``J0_BIN``, else ``<repo root>/target/debug/j0``."""
    return os.environ.get("J0_BIN") or str(REPO_ROOT / "target" / "debug" / "j0")


def maintenance_url() -> str:
    return os.environ.get("J0_TEST_DATABASE_URL") or DEFAULT_MAINTENANCE_URL


def psql(url: str, sql: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one SQL command with the psql CLI."""
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True, text=True, check=check, timeout=60,
    )


def postgres_available() -> bool:
    if shutil.which("psql") is None:
        return False
    try:
        return psql(maintenance_url(), "SELECT 1", check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class J0Server:
    """One ``j0 serve`` process on its own database.

    Args:
        env: extra environment (``J0_SIGNUP_PROMO_CENTS``, rate limits, ...). Rate limits are
            off unless given here.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.binary = j0_binary()
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(f"j0 binary not found at {self.binary} (set J0_BIN)")
        self.extra_env = dict(env or {})
        self.state_dir = tempfile.mkdtemp(prefix="j0-sdk-py-")
        self.database: str | None = None
        self.database_url: str | None = None
        self.base_url = ""
        self.addr = ""
        self.log: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    # Lifecycle ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment of the server and of its admin commands."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("J0_")}
        env.pop("DATABASE_URL", None)
        env.update({
            "J0_STATE_DIR": self.state_dir,
            "J0_LOG_JSON": "1",
            "RUST_LOG": "info",
        })
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        return env

    def start(self) -> J0Server:
        if postgres_available():
            self.database = f"j0_sdk_python_{secrets.token_hex(6)}"
            psql(maintenance_url(), f'CREATE DATABASE "{self.database}"')
            self.database_url = _with_database(maintenance_url(), self.database)
        env = self.env()
        env.update({
            "J0_BIND": "127.0.0.1:0",
            "J0_JWT_SECRET": secrets.token_urlsafe(36)[:48],
            "J0_COOKIE_SECURE": "false",
            "J0_METRICS_BIND": "off",
            "J0_RATE_IP_PER_MIN": "0",
            "J0_RATE_USER_PER_MIN": "0",
            "J0_RATE_AUTH_PER_MIN": "0",
        })
        env.update(self.extra_env)
        self._process = subprocess.Popen(
            [self.binary, "serve"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        listening = threading.Event()
        self._reader = threading.Thread(target=self._read_log, args=(listening,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT_SEC
        while not listening.wait(0.1):
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.log[-20:])
                self.stop(drop=True)
                raise RuntimeError(f"j0 serve did not start:\n{tail}")
        self.base_url = f"http://{self.addr}/api/v1"
        return self

    def _read_log(self, listening: threading.Event) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self.log.append(line.rstrip())
            if listening.is_set():
                continue
            try:
                fields = json.loads(line).get("fields", {})
            except (ValueError, AttributeError):
                continue
            if fields.get("message") == "j0 listening":
                self.addr = str(fields["addr"])
                listening.set()

    def stop(self, drop: bool = True) -> None:
        """SIGTERM the server, then drop its database."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if drop and self.database is not None:
            name = self.database
            psql(maintenance_url(), f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', check=False)
            psql(maintenance_url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 f"WHERE datname = '{name}' AND pid <> pg_backend_pid()", check=False)
            psql(maintenance_url(), f'DROP DATABASE IF EXISTS "{name}"', check=False)
            self.database = None
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # Operator commands -------------------------------------------------------------------

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``j0 admin ...`` against this server's database."""
        return subprocess.run([self.binary, "admin", *args], env=self.env(),
                              capture_output=True, text=True, timeout=120)

    def audit_ledger(self) -> subprocess.CompletedProcess[str]:
        return self.admin("audit-ledger")

    def grant_promo(self, user_id: int, cents: int) -> None:
        done = self.admin("grant-promo", "--user-id", str(user_id), "--cents", str(cents))
        if done.returncode != 0:
            raise RuntimeError(f"grant-promo failed: {done.stdout}{done.stderr}")

    def cut_off_database(self) -> None:
        """Make the database unreachable for the running server (it then answers 503)."""
        if self.database is None:
            raise RuntimeError("only possible with an external PostgreSQL")
        psql(maintenance_url(), f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        psql(maintenance_url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             f"WHERE datname = '{self.database}' AND pid <> pg_backend_pid()")


class _Stop(Exception):
    """Raised by the SIGTERM handler to end the wait."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra server environment, e.g. J0_SIGNUP_PROMO_CENTS=1000")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    server = J0Server(env).start()

    def on_term(signum: int, frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    print(server.base_url, flush=True)
    try:
        sys.stdin.read()
    except _Stop:
        pass
    audit = server.audit_ledger()
    server.stop()
    if audit.returncode != 0:
        print(f"ledger audit failed:\n{audit.stdout}{audit.stderr}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
