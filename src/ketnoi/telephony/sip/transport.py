"""SIP transports (RFC 3261 §18): stream framing by Content-Length (sans-I/O) and thin asyncio glue
for UDP, TCP and optional TLS, with RFC 5626 §3.5.1 CRLF keep-alives on streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Callable

from .errors import ParseError
from .events import Address
from .message import MAX_MESSAGE_SIZE

__all__ = ["KEEPALIVE_PING", "StreamFramer", "StreamTransport", "UdpTransport"]

log = logging.getLogger(__name__)

KEEPALIVE_PING = b"\r\n\r\n"  # RFC 5626 §3.5.1: a double CRLF ping, answered by one CRLF (pong)
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$",
                             re.IGNORECASE | re.MULTILINE)

Receiver = Callable[[bytes, Address], None]
ErrorHandler = Callable[[Address, str], None]


class StreamFramer:
    """Cuts a TCP/TLS byte stream into SIP messages (§18.3: Content-Length is mandatory on streams).

    :meth:`feed` returns complete messages (``bytes``), ``KEEPALIVE_PING`` for a ping to answer, or a
    :class:`ParseError` after which the stream cannot be resynchronised and must be closed.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self.broken = False

    def feed(self, data: bytes) -> list[bytes | ParseError]:
        if self.broken:
            return []
        self._buffer += data
        out: list[bytes | ParseError] = []
        buf = self._buffer
        while buf:
            if buf.startswith(b"\r\n"):
                if buf.startswith(KEEPALIVE_PING):
                    del buf[:4]
                    out.append(KEEPALIVE_PING)
                elif len(buf) < 4 and KEEPALIVE_PING.startswith(bytes(buf)):
                    break  # maybe the start of a ping
                else:
                    del buf[:2]  # a pong, or a stray CRLF before a message (§7.5)
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_size:
                    out.append(self._fail("headers too large", 413))
                break
            match = _CONTENT_LENGTH.search(bytes(buf[:end + 2]))
            length_text = match.group(1) if match else b"0"
            if not length_text.isdigit() or len(length_text) > 9:
                out.append(self._fail("bad Content-Length on a stream"))
                break
            total = end + 4 + int(length_text)
            if total > self.max_size:
                out.append(self._fail("message too large", 413))
                break
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out

    def _fail(self, reason: str, status: int = 400) -> ParseError:
        self.broken = True
        self._buffer.clear()
        return ParseError(reason, status)


class UdpTransport(asyncio.DatagramProtocol):
    """One UDP socket: every datagram goes to ``receiver(data, Address("udp", ip, port))``."""

    transport_name = "udp"

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def listen(cls, host: str, port: int, receiver: Receiver) -> UdpTransport:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(lambda: cls(receiver), local_addr=(host, port))
        return protocol

    @property
    def local_address(self) -> tuple[str, int]:
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.receiver(data, Address("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP errors: nothing to match them to
        log.debug("udp error: %s", exc)

    def send(self, data: bytes, destination: Address) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, (destination.host, destination.port))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _Connection(asyncio.Protocol):
    def __init__(self, owner: StreamTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer(owner.max_size)
        self.transport: asyncio.Transport | None = None
        self.peer: Address | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Address(self.owner.transport_name, host, port)
        self.owner.connections[self.peer] = self

    def data_received(self, data: bytes) -> None:
        for item in self.framer.feed(data):
            if item is KEEPALIVE_PING:
                self.write(b"\r\n")
            elif isinstance(item, ParseError):
                log.info("closing %s: %s", self.peer, item)
                self.owner.framing_errors += 1
                self.close()
                return
            else:
                self.owner.receiver(item, self.peer)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        connections = self.owner.connections
        for address in [a for a, c in connections.items() if c is self]:
            del connections[address]


class StreamTransport:
    """TCP (or TLS with ``ssl_context``) listener plus outgoing connections, keyed by peer address.

    Responses go back on the connection the request came in on (§18.2.2); requests to a peer
    without a connection open one. ``on_error(destination, reason)`` reports failed connects.
    """

    def __init__(self, receiver: Receiver, on_error: ErrorHandler | None = None, *,
                 ssl_context: ssl.SSLContext | None = None, client_ssl_context: ssl.SSLContext | None = None,
                 max_size: int = MAX_MESSAGE_SIZE) -> None:
        """TLS when either context is given (a client-only TLS transport has no listener)."""
        self.receiver = receiver
        self.on_error = on_error
        self.ssl_context = ssl_context
        self.client_ssl_context = client_ssl_context
        self.transport_name = "tls" if ssl_context or client_ssl_context else "tcp"
        self.max_size = max_size
        self.connections: dict[Address, _Connection] = {}
        self.framing_errors = 0
        self._server: asyncio.AbstractServer | None = None
        self._pending: dict[Address, list[bytes]] = {}
        self._tasks: set[asyncio.Task] = set()

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, ssl=self.ssl_context)

    @property
    def local_address(self) -> tuple[str, int] | None:
        if self._server is None:
            return None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def send(self, data: bytes, destination: Address) -> None:
        connection = self.connections.get(destination)
        if connection is not None:
            connection.write(data)
            return
        if destination in self._pending:
            self._pending[destination].append(data)
            return
        self._pending[destination] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(destination))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, destination: Address) -> None:
        loop = asyncio.get_running_loop()
        context = None
        if self.transport_name == "tls":
            context = self.client_ssl_context or ssl.create_default_context()
        try:
            _, connection = await asyncio.wait_for(loop.create_connection(
                lambda: _Connection(self), destination.host, destination.port, ssl=context), 10)
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            self._pending.pop(destination, None)
            if self.on_error is not None:
                self.on_error(destination, str(exc) or type(exc).__name__)
            return
        # Key the connection by the address we dialled (the peer name may be spelled differently).
        self.connections[destination] = connection
        for data in self._pending.pop(destination, []):
            connection.write(data)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections.values()):
            connection.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
