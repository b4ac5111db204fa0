"""Addresses and the events the SIP stack hands to its transaction user (the B2BUA, registrar…)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from .message import Request, Response
    from .transaction import ClientTransaction, ServerTransaction

__all__ = [
    "RELIABLE",
    "AckReceived",
    "Address",
    "Event",
    "RequestCancelled",
    "RequestReceived",
    "ResponseReceived",
    "TransactionTimeout",
    "TransportError",
]

RELIABLE = frozenset({"tcp", "tls", "ws", "wss"})


class Address(NamedTuple):
    """Where a message came from or goes to: transport (``udp``/``tcp``/``tls``), IP and port."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


@dataclass(slots=True)
class RequestReceived:
    """A new request for the TU. Answer it with ``stack.send_response(transaction, response)``.

    ``request``'s top Via already carries ``received``/``rport`` (RFC 3581); ``source`` is the
    packet's address (for REGISTER this is the NAT binding to keep, for a B2BUA the leg's peer).
    """

    request: Request
    transaction: ServerTransaction
    source: Address


@dataclass(slots=True)
class AckReceived:
    """An ACK for a 2xx (§13.2.2.4): it belongs to the dialog, not to a transaction. The stack has
    already stopped retransmitting that 2xx. ``transaction`` is the INVITE server transaction it
    acknowledges when still known, else ``None``."""

    request: Request
    source: Address
    transaction: ServerTransaction | None = None


@dataclass(slots=True)
class ResponseReceived:
    """A response to a request sent with ``stack.send_request``: provisional, final, and for INVITE
    every further 2xx (forks, RFC 6026) — the TU acknowledges each 2xx with ``stack.send_ack``."""

    response: Response
    transaction: ClientTransaction


@dataclass(slots=True)
class TransactionTimeout:
    """A transaction ended without its exchange completing: a client transaction got no final
    response (Timer B/F: treat as 408, §8.1.3.1), an INVITE server transaction got no ACK for its
    final response (Timer H, or the 2xx retransmissions of §13.3.1.4 ran out: the TU should BYE)."""

    transaction: ClientTransaction | ServerTransaction


@dataclass(slots=True)
class RequestCancelled:
    """A CANCEL matched a pending INVITE server transaction (§9.2). The stack has answered the CANCEL
    200 and the INVITE 487; the TU should stop ringing (and cancel its other leg)."""

    transaction: ServerTransaction
    cancel: Request


@dataclass(slots=True)
class TransportError:
    """A message of a client transaction could not be sent (connection refused, unreachable): treat
    as 503 (§8.1.3.1)."""

    transaction: ClientTransaction
    error: str


Event = (RequestReceived | AckReceived | ResponseReceived | TransactionTimeout | RequestCancelled
         | TransportError)
