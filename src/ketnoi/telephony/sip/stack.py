"""The SIP transaction layer and UA core checks, sans-I/O (RFC 3261 §8.2, §9, §17, §18; RFC 3581).

Feed it bytes with ``receive_datagram(data, source, now)`` (or parsed stream messages with
``receive_message``) and the clock with ``handle_timer(now)``; read ``datagrams_to_send()`` and
``next_event()``. The transaction user (B2BUA, registrar) acts through ``send_request``,
``send_response``/``respond``, ``send_ack`` and ``cancel``.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from typing import NamedTuple

from .errors import ParseError
from .events import AckReceived, Address, Event, RequestCancelled, RequestReceived, TransportError
from .headers import Via, canonical_name, parse_name_addr, split_list
from .message import (
    BRANCH_MAGIC,
    MAX_MESSAGE_SIZE,
    Headers,
    Request,
    Response,
    make_response,
    new_branch,
    new_tag,
    parse_message,
)
from .transaction import (
    Action,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    State,
    TimerConfig,
)
from .uri import SipURI, TelURI

__all__ = ["ALLOWED_METHODS", "Outgoing", "SipStack"]

#: Methods passed to the TU by default; others get 405 with Allow (§8.2.1). Configurable per stack.
ALLOWED_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "MESSAGE")


class Outgoing(NamedTuple):
    """Bytes to send; ``transaction`` is the client transaction they belong to, if any, so that a
    send failure can be reported with :meth:`SipStack.transport_failed`."""

    data: bytes
    destination: Address
    transaction: ClientTransaction | None = None


class SipStack:
    """Transaction matching (§17.1.3, §17.2.3), CANCEL (§9.2), 2xx ACK routing (§13.2.2.4, §13.3.1.4),
    the end of 2xx retransmissions once the peer shows it got the 2xx (:meth:`acknowledged`),
    the UAS checks of §8.2 (Max-Forwards → 483, URI scheme → 416, Require → 420), OPTIONS (§11),
    400/413/505 for malformed requests, and received/rport on the top Via (§18.2.1, RFC 3581).

    ``force_rport``: answer UDP requests to the packet's source port even without ``;rport``
    (phones behind NAT that do not ask for it, like Asterisk's ``force_rport``).
    """

    def __init__(self, *, timers: TimerConfig | None = None, user_agent: str = "ketnoi",
                 force_rport: bool = True, answer_options: bool = True,
                 supported: frozenset[str] = frozenset({"timer"}),
                 allowed_methods: tuple[str, ...] = ALLOWED_METHODS,
                 max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.timers = timers or TimerConfig()
        self.user_agent = user_agent
        self.force_rport = force_rport
        self.answer_options = answer_options
        self.supported = supported
        self.allowed_methods = allowed_methods
        self.max_message_size = max_message_size
        #: transport → (host, port) written in our Via sent-by and Contact (set by the transport glue)
        self.local_addresses: dict[str, tuple[str, int]] = {}
        self.stats: Counter[str] = Counter()
        self._servers: dict[tuple, ServerTransaction] = {}
        self._clients: dict[tuple, ClientTransaction] = {}
        self._accepted: dict[tuple[str, int], ServerInviteTransaction] = {}  # (Call-ID, CSeq) → 2xx sent
        self._accepted_calls: dict[str, set[int]] = {}  # Call-ID → CSeqs in _accepted
        self._acks: dict[tuple[tuple, str], Request] = {}  # (client key, To tag) → ACK sent for that 2xx
        self._cancel_pending: set[tuple] = set()
        self._heap: list[tuple[float, int, ServerTransaction | ClientTransaction]] = []
        self._counter = itertools.count()
        self._outgoing: list[Outgoing] = []
        self._events: deque[Event] = deque()

    # ----------------------------------------------------------------- output side
    def datagrams_to_send(self) -> list[Outgoing]:
        """Everything queued for the network since the last call."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next run (``None``: no timer pending)."""
        while self._heap:
            deadline, _, tx = self._heap[0]
            if tx.get_timer() == deadline and not tx.terminated:
                return deadline
            heapq.heappop(self._heap)
        return None

    def handle_timer(self, now: float) -> None:
        due: dict[int, ServerTransaction | ClientTransaction] = {}
        while self._heap and self._heap[0][0] <= now:
            deadline, _, tx = heapq.heappop(self._heap)
            if tx.heap_deadline == deadline:
                tx.heap_deadline = None
            due[id(tx)] = tx
        for tx in due.values():
            if not tx.terminated:
                self._run(tx, tx.handle_timer(now))

    def local_address(self, transport: str) -> tuple[str, int]:
        """Our (host, port) for ``transport`` (falls back to the UDP one)."""
        address = self.local_addresses.get(transport) or self.local_addresses.get("udp")
        if address is None:
            raise RuntimeError("no local address: bind a transport first")
        return address

    def contact_uri(self, user: str | None = None, transport: str = "udp") -> SipURI:
        """A Contact URI that reaches this stack over ``transport``."""
        host, port = self.local_address(transport)
        params: dict[str, str | None] = {} if transport == "udp" else {"transport": transport}
        return SipURI(host, user, port=port, params=params)

    # ----------------------------------------------------------------- TU side
    def send_request(self, request: Request, destination: Address, now: float) -> ClientTransaction:
        """Start a client transaction. A top Via with a fresh branch and ``rport`` is added (any Via
        already present is kept below it); Max-Forwards 70 is added when missing (§8.1.1.6)."""
        branch = new_branch()
        host, port = self.local_address(destination.transport)
        via = Via(destination.transport.upper(), host, port, {"branch": branch, "rport": None})
        request.headers.prepend("Via", str(via))
        self._fill_defaults(request)
        cls = ClientInviteTransaction if request.method == "INVITE" else ClientNonInviteTransaction
        tx = cls(request, destination, self.timers, branch)
        self._clients[tx.key] = tx
        self._run(tx, tx.start(now))
        return tx

    def send_response(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        """Send a response through its server transaction (retransmissions are handled here)."""
        if self.user_agent and "server" not in response.headers:
            response.headers.add("Server", self.user_agent)
        if isinstance(transaction, ServerInviteTransaction) and 200 <= response.status < 300:
            call_id, seq = transaction.request.call_id, transaction.request.cseq.seq
            self._accepted[(call_id, seq)] = transaction
            self._accepted_calls.setdefault(call_id, set()).add(seq)
        self._run(transaction, transaction.send_response(response, now))

    def acknowledged(self, transaction: ServerInviteTransaction, now: float) -> None:
        """Stop retransmitting ``transaction``'s 2xx as if its ACK had arrived (§13.3.1.4); Timer L
        then ends the transaction without a :class:`TransactionTimeout`. The stack does this by
        itself when an in-dialog request shows the peer got the 2xx (the ACK was lost)."""
        if not transaction.terminated and not transaction.ack_received:
            transaction.acknowledge(now)
            self._schedule(transaction)

    def respond(self, transaction: ServerTransaction, status: int, reason: str | None = None, *,
                now: float, headers: list[tuple[str, str]] | tuple = (), body: bytes = b"",
                content_type: str | None = None) -> Response:
        """Build (with the transaction's To tag) and send a response; returns it."""
        response = make_response(transaction.request, status, reason, to_tag=transaction.to_tag,
                                 headers=headers, body=body, content_type=content_type)
        self.send_response(transaction, response, now)
        return response

    def send_ack(self, ack: Request, destination: Address, now: float,
                 transaction: ClientInviteTransaction | None = None) -> None:
        """Send the ACK for a 2xx (built by the dialog, §13.2.2.4) with a new Via branch. With
        ``transaction``, retransmitted 2xx from the same To tag are answered with this ACK again
        without reaching the TU."""
        host, port = self.local_address(destination.transport)
        via = Via(destination.transport.upper(), host, port, {"branch": new_branch(), "rport": None})
        ack.headers.prepend("Via", str(via))
        self._fill_defaults(ack)
        if transaction is not None:
            to_tag = parse_name_addr(ack.headers.get("to") or "").tag or ""
            self._acks[(transaction.key, to_tag)] = ack
        self._queue(ack, destination)

    def send_stateless(self, message: Request | Response, destination: Address) -> None:
        """Send without a transaction (a response to a malformed request, a keep-alive OPTIONS…)."""
        self._queue(message, destination)

    def cancel(self, transaction: ClientInviteTransaction, now: float) -> ClientTransaction | None:
        """CANCEL a pending INVITE (§9.1). Sent at once when a provisional response has arrived,
        else as soon as one does; nothing when the INVITE already got its final response."""
        if transaction.state is State.CALLING:
            self._cancel_pending.add(transaction.key)
            transaction.cancel_deadline(now)
            self._schedule(transaction)
            return None
        if transaction.state is not State.PROCEEDING:
            return None
        return self._send_cancel(transaction, now)

    def transport_failed(self, transaction: ClientTransaction, error: str) -> None:
        """The transport could not send for ``transaction``: end it and tell the TU (§8.1.3.1)."""
        if not transaction.terminated:
            transaction._terminate()
            self._events.append(TransportError(transaction, error))

    # ----------------------------------------------------------------- network side
    def receive_datagram(self, data: bytes, source: Address, now: float) -> None:
        """One UDP datagram (or one framed stream message when ``source`` is reliable)."""
        self.stats["received"] += 1
        if not data.strip(b"\r\n\x00 \t"):
            self.stats["keepalive"] += 1  # CRLF / NUL keep-alives (RFC 5626 §3.5.1 style)
            return
        try:
            message = parse_message(data, datagram=not source.reliable, max_size=self.max_message_size)
        except ParseError as exc:
            self.stats["malformed"] += 1
            self._answer_malformed(exc, source)
            return
        self.receive_message(message, source, now)

    def receive_message(self, message: Request | Response, source: Address, now: float) -> None:
        try:
            if isinstance(message, Response):
                self._receive_response(message, now)
            else:
                self._receive_request(message, source, now)
        except ParseError as exc:
            # A header parsed lazily (Require, Contact…) turned out malformed: answer like any
            # other malformed request, and forget a server transaction it may have opened.
            self.stats["malformed"] += 1
            if isinstance(message, Request):
                for key, tx in list(self._servers.items()):
                    if tx.request is message and tx.last_response is None:
                        del self._servers[key]
                exc.method, exc.headers = message.method, message.headers
                self._answer_malformed(exc, source)

    # ----------------------------------------------------------------- internals
    def _fill_defaults(self, request: Request) -> None:
        if "max-forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")
        if self.user_agent and "user-agent" not in request.headers:
            request.headers.add("User-Agent", self.user_agent)

    def _queue(self, message: Request | Response, destination: Address,
               transaction: ClientTransaction | None = None) -> None:
        self._outgoing.append(Outgoing(message.to_bytes(), destination, transaction))

    def _schedule(self, tx: ServerTransaction | ClientTransaction) -> None:
        deadline = tx.get_timer()
        if deadline is not None and deadline != tx.heap_deadline:  # one heap entry per deadline
            tx.heap_deadline = deadline
            heapq.heappush(self._heap, (deadline, next(self._counter), tx))

    def _run(self, tx: ServerTransaction | ClientTransaction, actions: list[Action]) -> None:
        client = tx if isinstance(tx, ClientTransaction) else None
        for action in actions:
            if isinstance(action, Send):
                self._queue(action.message, action.destination, client)
            else:
                self._events.append(action)
        if tx.terminated:
            self._forget(tx)
        else:
            self._schedule(tx)

    def _forget(self, tx: ServerTransaction | ClientTransaction) -> None:
        if isinstance(tx, ClientTransaction):
            self._clients.pop(tx.key, None)
            self._cancel_pending.discard(tx.key)
            for key in [k for k in self._acks if k[0] == tx.key]:
                del self._acks[key]
        else:
            self._servers.pop(tx.key, None)
            if isinstance(tx, ServerInviteTransaction):
                key = (tx.request.call_id, tx.request.cseq.seq)
                if self._accepted.get(key) is tx:
                    del self._accepted[key]
                    seqs = self._accepted_calls.get(key[0])
                    if seqs is not None:
                        seqs.discard(key[1])
                        if not seqs:
                            del self._accepted_calls[key[0]]

    def _send_cancel(self, invite: ClientInviteTransaction, now: float) -> ClientTransaction:
        headers = Headers()
        request = invite.request
        headers.add("Via", request.headers.get("via") or "")
        for name, value in request.headers:
            if canonical_name(name) in ("from", "to", "call-id", "route", "max-forwards"):
                headers.add(name, value)
        headers.add("CSeq", f"{request.cseq.seq} CANCEL")
        cancel = Request("CANCEL", request.uri, headers)
        self._fill_defaults(cancel)
        tx = ClientNonInviteTransaction(cancel, invite.destination, self.timers, invite.key[0])
        self._clients[tx.key] = tx
        invite.cancel_deadline(now)
        self._schedule(invite)
        self._run(tx, tx.start(now))
        return tx

    def _receive_response(self, response: Response, now: float) -> None:
        try:
            key = (response.top_via.branch, response.cseq.method)
        except ParseError:
            self.stats["dropped"] += 1
            return
        tx = self._clients.get(key)
        if tx is None:
            self.stats["stray_responses"] += 1  # §18.1.2: no matching transaction, drop
            return
        accepted = isinstance(tx, ClientInviteTransaction) and tx.state is State.ACCEPTED
        if accepted and 200 <= response.status < 300:
            ack = self._acks.get((tx.key, response.to_addr.tag or ""))
            if ack is not None:  # retransmitted 2xx: the ACK already sent answers it again
                self._queue(ack, tx.destination)
                return
        self._run(tx, tx.receive_response(response, now))
        if tx.key in self._cancel_pending and response.status < 200:
            self._cancel_pending.discard(tx.key)
            self._send_cancel(tx, now)

    def _response_address(self, via: Via, source: Address) -> Address:
        if source.reliable:
            return source  # same connection (§18.2.2)
        if "rport" in via.params or self.force_rport:
            return source
        return Address(source.transport, source.host, via.port or 5060)

    def _server_key(self, request: Request, method: str) -> tuple:
        via = request.top_via
        branch = via.branch or ""
        if branch.startswith(BRANCH_MAGIC):
            return (branch, via.host.lower(), via.port, method)
        # RFC 2543 peers (§17.2.3): no usable branch, match on the request's identity instead.
        return ("2543", request.call_id, request.from_addr.tag, request.cseq.seq, via.host.lower(),
                via.port, branch, method)

    def _receive_request(self, request: Request, source: Address, now: float) -> None:
        via = request.top_via
        if via.host != source.host or "rport" in via.params:  # §18.2.1 and RFC 3581 §4
            via.params["received"] = source.host
        if "rport" in via.params:
            via.params["rport"] = str(source.port)
        request.headers.replace_first("Via", str(via))
        method = "INVITE" if request.method == "ACK" else request.method
        tx = self._servers.get(self._server_key(request, method))
        if tx is not None:
            self.stats["retransmissions"] += 1
            self._run(tx, tx.receive_request(request, now))
            return
        if request.method == "ACK":
            accepted = self._accepted.get((request.call_id, request.cseq.seq))
            if accepted is not None:
                accepted.acknowledge(now)
                self._schedule(accepted)
            self._events.append(AckReceived(request, source, accepted))
            return
        if request.method in ("BYE", "INVITE") and request.to_addr.tag is not None and \
                request.call_id in self._accepted_calls:
            self._peer_has_2xx(request, now)
        response_address = self._response_address(via, source)
        key = self._server_key(request, request.method)
        if request.method == "INVITE":
            tx = ServerInviteTransaction(key, request, source, response_address, self.timers)
        else:
            tx = ServerNonInviteTransaction(key, request, source, response_address, self.timers)
        if request.to_addr.tag is None:
            tx.to_tag = new_tag()
        self._servers[key] = tx
        if request.method == "CANCEL":
            self._receive_cancel(tx, now)
            return
        refusal = self._core_checks(request)
        if refusal is not None:
            status, headers = refusal
            self.respond(tx, status, now=now, headers=headers)
            return
        if request.method == "OPTIONS" and self.answer_options and request.to_addr.tag is None:
            self.respond(tx, 200, now=now, headers=self._capabilities())
            return
        if request.method == "INVITE":
            self.respond(tx, 100, now=now)  # §17.2.1: stop the client's Timer A at once
        self._events.append(RequestReceived(request, tx, source))

    def _peer_has_2xx(self, request: Request, now: float) -> None:
        """A BYE or re-INVITE from the caller carrying the To tag of a 2xx we are still retransmitting,
        with a higher CSeq, while no ACK came: stop the retransmissions (§13.3.1.4). A re-INVITE
        shows the 2xx arrived (§14.1: no new INVITE while one is in progress); a BYE ends the dialog
        whether or not it did (§15), so more 2xx would only make the peer log dead calls. Other
        methods (UPDATE, INFO, PRACK…) may be sent in the early dialog and prove nothing."""
        seq, from_tag, to_tag = request.cseq.seq, request.from_addr.tag, request.to_addr.tag
        for invite_seq in list(self._accepted_calls.get(request.call_id, ())):
            tx = self._accepted.get((request.call_id, invite_seq))
            if (tx is None or tx.ack_received or invite_seq >= seq or tx.last_response is None
                    or tx.request.from_addr.tag != from_tag or tx.last_response.to_addr.tag != to_tag):
                continue
            self.stats["ack_inferred"] += 1
            self.acknowledged(tx, now)

    def _core_checks(self, request: Request) -> tuple[int, list[tuple[str, str]]] | None:
        max_forwards = request.max_forwards
        if max_forwards == 0 and request.method != "OPTIONS":
            return 483, []  # §16.3 step 2 / §8.2: a UA that is not the target must not go on
        if not isinstance(request.uri, SipURI | TelURI):
            return 416, []  # §8.2.2.1
        if request.method not in self.allowed_methods:
            return 405, [("Allow", ", ".join(self.allowed_methods))]
        required = [o for v in request.headers.get_all("require") for o in split_list(v)]
        unsupported = [o for o in required if o.lower() not in self.supported]
        if unsupported:
            return 420, [("Unsupported", ", ".join(unsupported))]  # §8.2.2.3
        return None

    def _capabilities(self) -> list[tuple[str, str]]:
        return [("Allow", ", ".join(self.allowed_methods)), ("Accept", "application/sdp"),
                ("Supported", ", ".join(sorted(self.supported)))]

    def _receive_cancel(self, tx: ServerTransaction, now: float) -> None:
        cancel = tx.request
        invite = self._servers.get(self._server_key(cancel, "INVITE"))
        if not isinstance(invite, ServerInviteTransaction):
            self.respond(tx, 481, now=now)  # §9.2
            return
        tx.to_tag = invite.to_tag  # §9.2: same To tag in both responses
        self.respond(tx, 200, now=now)
        if not invite.final_sent:
            self.respond(invite, 487, now=now)
            self._events.append(RequestCancelled(invite, cancel))

    def _answer_malformed(self, exc: ParseError, source: Address) -> None:
        """§8.2 / §21.4: answer 400 (413, 505) when the request can be identified, else drop."""
        headers = exc.headers
        needed = ("via", "from", "to", "call-id", "cseq")
        if exc.method is None or exc.method == "ACK" or headers is None or any(
                n not in headers for n in needed):
            self.stats["dropped"] += 1
            return
        out = Headers([(n, v) for n, v in headers if canonical_name(n) in needed])
        reason = str(exc).replace('"', "'")[:120]
        out.add("Warning", f'399 ketnoi "{reason}"')
        self.stats[f"answered_{exc.status}"] += 1
        # The Via may be what is malformed: answer the packet's source (as with rport).
        self._queue(Response(exc.status, None, out), source)

