"""Tiny TCP proxies in front of the real server, to lose answers and drop connections."""

from __future__ import annotations

import socket
import threading
from abc import ABC, abstractmethod


def _listen() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class _Reader:
    """Buffered reads of HTTP/1.1 messages from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise ConnectionError("closed mid-message")
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def message(self) -> bytes | None:
        """One whole request or response (head and body), or None at a clean end."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                if self.buffer:
                    raise ConnectionError("closed mid-head")
                return None
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = self._take(end)
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            if b":" in line:
                name, value = line.split(b":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buffer:
                    if not self._fill():
                        raise ConnectionError("closed mid-chunk")
                size_line = self._take(self.buffer.index(b"\r\n") + 2)
                size = int(size_line.split(b";")[0], 16)
                body += size_line + self._take(size + 2)
                if size == 0:
                    return head + body
        return head + self._take(int(headers.get(b"content-length", b"0")))


class _Proxy(ABC):
    """Listens on a free local port and hands each connection to :meth:`_handle`."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self._lock = threading.Lock()
        self._listener = _listen()
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        _shut(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._handle(client)

    @abstractmethod
    def _handle(self, client: socket.socket) -> None:
        """Serve one accepted connection (without blocking the accept loop)."""


class LoseAnswerProxy(_Proxy):
    """Forwards HTTP/1.1 requests to ``upstream``; loses the answers of chosen requests.

    For the first request whose request line starts with each of ``prefixes`` (e.g.
    ``b"POST /api/v1/jobs "``), the request reaches the server and its whole response comes
    back to the proxy, which then closes the client's connection without forwarding it.
    """

    def __init__(self, upstream: str, *prefixes: bytes) -> None:
        self.pending = list(prefixes)
        self.lost: list[bytes] = []
        self.forwarded: list[bytes] = []
        super().__init__(upstream)

    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _handle(self, client: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        requests, responses = _Reader(client), _Reader(upstream)
        try:
            while True:
                request = requests.message()
                if request is None:
                    return
                upstream.sendall(request)
                response = responses.message()
                if response is None:
                    return
                line = request.split(b"\r\n", 1)[0]
                with self._lock:
                    match = next((p for p in self.pending if request.startswith(p)), None)
                    lose = match is not None
                    if match is not None:
                        self.pending.remove(match)
                        self.lost.append(line)
                    else:
                        self.forwarded.append(line)
                if lose:
                    return
                client.sendall(response)
        except (OSError, ConnectionError):
            return
        finally:
            _shut(client)
            _shut(upstream)


class PipeProxy(_Proxy):
    """Pipes TCP connections to ``upstream`` byte for byte; :meth:`drop_all` cuts them."""

    def __init__(self, upstream: str) -> None:
        self.connections = 0
        self._open: list[socket.socket] = []
        super().__init__(upstream)

    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def drop_all(self) -> None:
        """Cut every open connection (both sides), as a network failure would."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            _shut(sock)

    def close(self) -> None:
        super().close()
        self.drop_all()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        with self._lock:
            self.connections += 1
            self._open += [client, upstream]
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            _shut(src)
            _shut(dst)

