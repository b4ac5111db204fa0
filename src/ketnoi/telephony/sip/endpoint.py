"""asyncio glue that runs a :class:`~.stack.SipStack` over real sockets: binds UDP/TCP(/TLS), feeds
packets and the loop clock to the stack, flushes what it wants sent and hands events to the TU."""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from collections.abc import Awaitable, Callable

from .events import (
    Address,
    Event,
    ResponseReceived,
    TransactionTimeout,
    TransportError,
)
from .message import Request, Response, make_response
from .stack import SipStack
from .transaction import ClientInviteTransaction, ClientTransaction, ServerTransaction
from .transport import StreamTransport, UdpTransport

__all__ = ["EventHandler", "SipEndpoint"]

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[None] | None]


class SipEndpoint:
    """A SIP endpoint on this host. Events go to ``handler`` (sync or async); ``request()`` offers an
    awaitable client transaction for TUs that prefer it (its events do not reach ``handler``).

    >>> endpoint = SipEndpoint(handler=on_event)             # doctest: +SKIP
    >>> await endpoint.start("127.0.0.1", 5060)               # doctest: +SKIP
    """

    def __init__(self, stack: SipStack | None = None, *, handler: EventHandler | None = None) -> None:
        self.stack = stack or SipStack()
        self.handler = handler
        self.transports: dict[str, UdpTransport | StreamTransport] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._waiters: dict[int, tuple[asyncio.Future, Callable[[Response], None] | None]] = {}
        self._tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 5060, *, udp: bool = True, tcp: bool = True,
                    tcp_port: int | None = None,
                    tls_context: ssl.SSLContext | None = None, tls_port: int | None = None,
                    tls_client_context: ssl.SSLContext | None = None,
                    advertised_host: str | None = None) -> None:
        """Bind the transports (port 0 picks a free port, the same for UDP and TCP when possible;
        ``tcp_port`` puts TCP on a port of its own).
        ``tls_context`` adds a TLS listener; ``tls_client_context`` alone allows outgoing TLS only
        (e.g. to a provider's ``sips:`` trunk). ``advertised_host`` is written in Via/Contact
        instead of the bound address (NAT, CC-05)."""
        self._loop = asyncio.get_running_loop()
        for attempt in range(20 if port == 0 and not tcp_port else 1):
            try:
                await self._bind(host, port, udp, tcp, tcp_port)
                break
            except OSError:
                # Port 0: the UDP port the kernel chose may be taken on TCP; try another pair.
                await self._close_transports()
                if port != 0 or attempt == 19:
                    raise
        if tls_context is not None or tls_client_context is not None:
            tls = StreamTransport(self._on_datagram, self._on_stream_error, ssl_context=tls_context,
                                  client_ssl_context=tls_client_context)
            if tls_context is not None:
                await tls.listen(host, tls_port or 0)
            self.transports["tls"] = tls
        for name, transport in self.transports.items():
            bound = transport.local_address or next(
                (t.local_address for t in self.transports.values() if t.local_address), (host, port))
            self.stack.local_addresses[name] = (advertised_host or bound[0], bound[1])

    async def _close_transports(self) -> None:
        for transport in self.transports.values():
            if isinstance(transport, StreamTransport):
                await transport.close()
            else:
                transport.close()
        self.transports.clear()

    async def _bind(self, host: str, port: int, udp: bool, tcp: bool, tcp_port: int | None) -> None:
        if udp:
            transport = await UdpTransport.listen(host, port, self._on_datagram)
            self.transports["udp"] = transport
            port = transport.local_address[1]
        if tcp:
            stream = StreamTransport(self._on_datagram, self._on_stream_error)
            self.transports["tcp"] = stream
            await stream.listen(host, port if tcp_port is None else tcp_port)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self._close_transports()
        for task in list(self._tasks):
            task.cancel()
        for future, _ in self._waiters.values():
            if not future.done():
                future.cancel()

    def address(self, transport: str = "udp") -> Address:
        """The address peers reach this endpoint at over ``transport``."""
        host, port = self.stack.local_address(transport)
        return Address(transport, host, port)

    @property
    def now(self) -> float:
        assert self._loop is not None, "start() first"
        return self._loop.time()

    # ------------------------------------------------------------------ TU API
    def send_request(self, request: Request, destination: Address) -> ClientTransaction:
        """Start a client transaction; its responses arrive as ``ResponseReceived`` events."""
        tx = self.stack.send_request(request, destination, self.now)
        self._pump()
        return tx

    async def request(self, request: Request, destination: Address, *,
                      on_response: Callable[[Response], None] | None = None) -> Response:
        """Send ``request`` and wait for its final response. Provisional responses go to
        ``on_response``. A timeout gives a local 408, a transport failure a local 503 (§8.1.3.1).
        For INVITE, the TU still owes the ACK for a 2xx (``send_ack``)."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        tx = self.stack.send_request(request, destination, self.now)
        self._waiters[id(tx)] = (future, on_response)
        self._pump()
        try:
            return await future
        finally:
            self._waiters.pop(id(tx), None)

    def send_response(self, transaction: ServerTransaction, response: Response) -> None:
        self.stack.send_response(transaction, response, self.now)
        self._pump()

    def respond(self, transaction: ServerTransaction, status: int, reason: str | None = None, *,
                headers: list[tuple[str, str]] | tuple = (), body: bytes = b"",
                content_type: str | None = None) -> Response:
        """Build a response with the transaction's To tag and send it."""
        response = self.stack.respond(transaction, status, reason, now=self.now, headers=headers,
                                      body=body, content_type=content_type)
        self._pump()
        return response

    def send_ack(self, ack: Request, destination: Address,
                 transaction: ClientInviteTransaction | None = None) -> None:
        self.stack.send_ack(ack, destination, self.now, transaction)
        self._pump()

    def cancel(self, transaction: ClientInviteTransaction) -> None:
        self.stack.cancel(transaction, self.now)
        self._pump()

    def send_stateless(self, message: Request | Response, destination: Address) -> None:
        self.stack.send_stateless(message, destination)
        self._pump()

    def send_keepalive(self, destination: Address) -> None:
        """A CRLF keep-alive toward a registered phone, so its NAT binding stays open (RFC 5626 §3.5.1
        pings are double CRLF on streams; on UDP a bare CRLF is ignored by SIP parsers)."""
        transport = self.transports.get(destination.transport)
        if transport is not None:
            transport.send(b"\r\n\r\n" if destination.reliable else b"\r\n", destination)

    # ------------------------------------------------------------------ plumbing
    def _on_datagram(self, data: bytes, source: Address) -> None:
        try:
            self.stack.receive_datagram(data, source, self.now)
        except Exception:  # a bug must not take the listener down; the packet is lost
            log.exception("SIP stack failed on a packet from %s", source)
            self.stack.stats["internal_errors"] += 1
        self._pump()

    def _on_stream_error(self, destination: Address, reason: str) -> None:
        for tx in list(self.stack._clients.values()):
            if tx.destination == destination:
                self.stack.transport_failed(tx, reason)
        self._pump()

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        try:
            self.stack.handle_timer(self.now)
        except Exception:
            log.exception("SIP timer handling failed")
            self.stack.stats["internal_errors"] += 1
        self._pump()

    def _pump(self) -> None:
        """Flush datagrams, dispatch events, re-arm the timer."""
        for data, destination, tx in self.stack.datagrams_to_send():
            transport = self.transports.get(destination.transport)
            if transport is None:
                if tx is not None:
                    self.stack.transport_failed(tx, f"no {destination.transport} transport")
                continue
            transport.send(data, destination)
        while (event := self.stack.next_event()) is not None:
            self._dispatch(event)
        deadline = self.stack.get_timer()
        if deadline is not None and deadline != self._timer_at and self._loop is not None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _dispatch(self, event: Event) -> None:
        tx = getattr(event, "transaction", None)
        waiter = self._waiters.get(id(tx)) if tx is not None else None
        if waiter is not None:
            future, on_response = waiter
            if isinstance(event, ResponseReceived):
                if event.response.status < 200:
                    if on_response is not None:
                        on_response(event.response)
                    return
                if not future.done():
                    future.set_result(event.response)
                    return
            elif isinstance(event, TransactionTimeout | TransportError):
                status = 408 if isinstance(event, TransactionTimeout) else 503
                if not future.done():
                    future.set_result(make_response(tx.request, status))
                return
        if self.handler is None:
            return
        try:
            result = self.handler(event)
        except Exception:  # a TU bug must not close the socket or stop the timers
            log.exception("SIP event handler failed on %r", event)
            self.stack.stats["handler_errors"] += 1
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP event handler failed", exc_info=task.exception())
