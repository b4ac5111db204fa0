"""SIP (RFC 3261) protocol core, sans-I/O: messages, transactions, dialogs, digest auth, registrar.

Public API (stable; see docs/TELEPHONY.md "SIP: what is implemented"):

- model: :class:`Request`, :class:`Response`, :class:`Headers`, :func:`parse_message`,
  :func:`make_response`, URIs (:class:`SipURI`, :class:`TelURI`, :func:`parse_uri`), header values
  (:class:`NameAddr`, :class:`Via`, :class:`CSeq`, :func:`parse_name_addr`), :class:`ParseError`;
- transaction layer: :class:`SipStack` (sans-I/O) and :class:`SipEndpoint` (asyncio sockets), events
  (:class:`RequestReceived`, :class:`ResponseReceived`, :class:`AckReceived`,
  :class:`RequestCancelled`, :class:`TransactionTimeout`, :class:`TransportError`), :class:`Address`;
- dialogs: :class:`Dialog`, :func:`build_request`, :func:`address_of`;
- digest auth (RFC 8760): :class:`DigestServer`, :class:`DigestClient`;
- registrar: :class:`Registrar`, :class:`Binding`.
"""

from .auth import AuthResult, DigestClient, DigestServer
from .dialog import Dialog, DialogId, DialogState, address_of, build_request, session_timer_answer
from .endpoint import SipEndpoint
from .errors import ParseError, SipError
from .events import (
    AckReceived,
    Address,
    Event,
    RequestCancelled,
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportError,
)
from .headers import CSeq, NameAddr, Via, parse_name_addr, parse_via
from .message import (
    Headers,
    Message,
    Request,
    Response,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
    reason_phrase,
)
from .registrar import Binding, RegisterOutcome, Registrar
from .stack import SipStack
from .transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    State,
    TimerConfig,
)
from .uri import URI, AbsoluteURI, SipURI, TelURI, parse_uri

__all__ = [
    "URI",
    "AbsoluteURI",
    "AckReceived",
    "Address",
    "AuthResult",
    "Binding",
    "CSeq",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "Dialog",
    "DialogId",
    "DialogState",
    "DigestClient",
    "DigestServer",
    "Event",
    "Headers",
    "Message",
    "NameAddr",
    "ParseError",
    "RegisterOutcome",
    "Registrar",
    "Request",
    "RequestCancelled",
    "RequestReceived",
    "Response",
    "ResponseReceived",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "SipEndpoint",
    "SipError",
    "SipStack",
    "SipURI",
    "State",
    "TelURI",
    "TimerConfig",
    "TransactionTimeout",
    "TransportError",
    "Via",
    "address_of",
    "build_request",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "reason_phrase",
    "session_timer_answer",
]
