"""Client and server transactions (RFC 3261 §17, with the RFC 6026 "Accepted" states), sans-I/O.

Each transaction is fed messages and a clock (``now``, seconds) and returns what to do: ``Send``
actions and TU events. ``get_timer()`` says when ``handle_timer(now)`` must next be called; the
timers are those of §17 / Table 4 (A–K) plus L and M of RFC 6026.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass

from .events import Address, Event, ResponseReceived, TransactionTimeout
from .headers import canonical_name
from .message import Headers, Request, Response

__all__ = [
    "Action",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "Send",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "State",
    "TimerConfig",
    "make_ack_for_error",
]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 of §17.1.1.1 (seconds). Timer B/F/H/J/L/M are 64*T1, D is 32 s (unreliable)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0


@dataclass(slots=True)
class Send:
    """Send ``message`` to ``destination`` (the transport layer serializes it)."""

    message: Request | Response
    destination: Address


Action = Send | Event


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class _Transaction(ABC):
    """Timer bookkeeping shared by all four machines."""

    def __init__(self, key: tuple, request: Request, reliable: bool, timers: TimerConfig) -> None:
        self.key = key
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.state = State.TRYING
        self._deadlines: dict[str, float] = {}
        #: free slot for the TU (the engine keeps its call leg here)
        self.context: object = None
        #: the deadline this transaction was last queued under by the stack's timer heap
        self.heap_deadline: float | None = None

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def get_timer(self) -> float | None:
        """Earliest pending deadline, or ``None``."""
        return min(self._deadlines.values()) if self._deadlines else None

    def _arm(self, name: str, delay: float, now: float) -> None:
        self._deadlines[name] = now + delay

    def _terminate(self) -> None:
        self.state = State.TERMINATED
        self._deadlines.clear()

    def handle_timer(self, now: float) -> list[Action]:
        """Fire every timer whose deadline is ``<= now``, earliest first."""
        actions: list[Action] = []
        while self._deadlines:
            name, deadline = min(self._deadlines.items(), key=lambda item: item[1])
            if deadline > now:
                break
            del self._deadlines[name]
            actions += self._on_timer(name, now)
        return actions

    @abstractmethod
    def _on_timer(self, name: str, now: float) -> list[Action]:
        """Actions when timer ``name`` fires."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state.value}>"


class ClientTransaction(_Transaction):
    """Base of the client machines: ``destination`` is where the request goes."""

    def __init__(self, request: Request, destination: Address, timers: TimerConfig, branch: str) -> None:
        super().__init__((branch, request.method), request, destination.reliable, timers)
        self.destination = destination
        self.last_response: Response | None = None

    @abstractmethod
    def start(self, now: float) -> list[Action]:
        """Send the request for the first time and arm the timers."""

    @abstractmethod
    def receive_response(self, response: Response, now: float) -> list[Action]:
        """Feed a response matched to this transaction (§17.1.3)."""


def make_ack_for_error(request: Request, response: Response) -> Request:
    """ACK for a non-2xx final response (§17.1.1.3): same branch/Via, Request-URI, From, Call-ID,
    Route as the INVITE, To from the response, CSeq number with method ACK."""
    headers = Headers()
    top_via = request.headers.get("via")
    if top_via is not None:
        headers.add("Via", top_via)
    for name, value in request.headers:
        if canonical_name(name) in ("from", "call-id", "route", "max-forwards"):
            headers.add(name, value)
    to = response.headers.get("to") or request.headers.get("to") or ""
    headers.add("To", to)
    headers.add("CSeq", f"{request.cseq.seq} ACK")
    return Request("ACK", request.uri, headers)


class ClientInviteTransaction(ClientTransaction):
    """§17.1.1 (Figure 5) with the Accepted state of RFC 6026 §8.4."""

    def start(self, now: float) -> list[Action]:
        self.state = State.CALLING
        if not self.reliable:
            self._interval = self.timers.t1
            self._arm("A", self._interval, now)
        self._arm("B", 64 * self.timers.t1, now)
        return [Send(self.request, self.destination)]

    def receive_response(self, response: Response, now: float) -> list[Action]:
        status = response.status
        if self.state in (State.CALLING, State.PROCEEDING):
            self.last_response = response
            if status < 200:
                self.state = State.PROCEEDING
                self._deadlines.pop("A", None)
                self._deadlines.pop("B", None)
                return [ResponseReceived(response, self)]
            self._deadlines.clear()
            if status < 300:
                self.state = State.ACCEPTED
                self._arm("M", 64 * self.timers.t1, now)
                return [ResponseReceived(response, self)]
            self.state = State.COMPLETED
            self._ack = make_ack_for_error(self.request, response)
            self._arm("D", 0 if self.reliable else self.timers.timer_d, now)
            return [Send(self._ack, self.destination), ResponseReceived(response, self)]
        if self.state is State.ACCEPTED and 200 <= status < 300:
            return [ResponseReceived(response, self)]  # a retransmission or another fork's 2xx
        if self.state is State.COMPLETED and status >= 300:
            return [Send(self._ack, self.destination)]  # the final response was retransmitted
        return []

    def cancel_deadline(self, now: float) -> None:
        """After sending CANCEL, give up on the INVITE if no final response comes within 64*T1
        (§9.1), even in Proceeding where Timer B no longer runs."""
        if self.state in (State.CALLING, State.PROCEEDING):
            self._arm("B", 64 * self.timers.t1, now)

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "A" and self.state is State.CALLING:
            self._interval *= 2
            self._arm("A", self._interval, now)
            return [Send(self.request, self.destination)]
        if name == "B" and self.state in (State.CALLING, State.PROCEEDING):
            self._terminate()
            return [TransactionTimeout(self)]
        if name in ("D", "M"):
            self._terminate()
        return []


class ClientNonInviteTransaction(ClientTransaction):
    """§17.1.2 (Figure 6)."""

    def start(self, now: float) -> list[Action]:
        self.state = State.TRYING
        if not self.reliable:
            self._interval = self.timers.t1
            self._arm("E", self._interval, now)
        self._arm("F", 64 * self.timers.t1, now)
        return [Send(self.request, self.destination)]

    def receive_response(self, response: Response, now: float) -> list[Action]:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return []  # Completed absorbs retransmitted finals
        self.last_response = response
        if response.status < 200:
            self.state = State.PROCEEDING
            return [ResponseReceived(response, self)]
        self.state = State.COMPLETED
        self._deadlines.clear()
        self._arm("K", 0 if self.reliable else self.timers.t4, now)
        return [ResponseReceived(response, self)]

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "E" and self.state in (State.TRYING, State.PROCEEDING):
            # Trying: doubling up to T2; Proceeding: every T2 (§17.1.2.2).
            self._interval = self.timers.t2 if self.state is State.PROCEEDING else min(
                2 * self._interval, self.timers.t2)
            self._arm("E", self._interval, now)
            return [Send(self.request, self.destination)]
        if name == "F" and self.state in (State.TRYING, State.PROCEEDING):
            self._terminate()
            return [TransactionTimeout(self)]
        if name == "K":
            self._terminate()
        return []


class ServerTransaction(_Transaction):
    """Base of the server machines: ``response_address`` is where responses go (§18.2.2, RFC 3581)."""

    def __init__(self, key: tuple, request: Request, source: Address, response_address: Address,
                 timers: TimerConfig) -> None:
        super().__init__(key, request, source.reliable, timers)
        self.source = source
        self.response_address = response_address
        self.last_response: Response | None = None
        #: To tag for responses that create a dialog; set by the stack for requests without one
        self.to_tag: str | None = None

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    @abstractmethod
    def receive_request(self, request: Request, now: float) -> list[Action]:
        """Feed a retransmission (or the ACK) of the request (§17.2.3)."""

    @abstractmethod
    def send_response(self, response: Response, now: float) -> list[Action]:
        """Send a response from the TU and move the state machine (§17.2.1, §17.2.2)."""

    def _send_last(self) -> list[Action]:
        return [Send(self.last_response, self.response_address)] if self.last_response else []


class ServerInviteTransaction(ServerTransaction):
    """§17.2.1 (Figure 7) with RFC 6026's Accepted state; in Accepted it also retransmits the 2xx
    until the TU reports the ACK (the UAS core duty of §13.3.1.4, done here for every TU)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state = State.PROCEEDING
        self.ack_received = False

    def receive_request(self, request: Request, now: float) -> list[Action]:
        if request.method == "ACK":
            if self.state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._deadlines.clear()
                self._arm("I", 0 if self.reliable else self.timers.t4, now)
            return []
        # A retransmitted INVITE: resend the last response, except in Accepted (RFC 6026 §8.5:
        # the 2xx is retransmitted by its own timer, not on request).
        if self.state in (State.PROCEEDING, State.COMPLETED):
            return self._send_last()
        return []

    def send_response(self, response: Response, now: float) -> list[Action]:
        if self.state is not State.PROCEEDING:
            return []
        self.last_response = response
        if response.status >= 300:
            self.state = State.COMPLETED
            if not self.reliable:
                self._interval = self.timers.t1
                self._arm("G", self._interval, now)
            self._arm("H", 64 * self.timers.t1, now)
        elif response.status >= 200:
            self.state = State.ACCEPTED
            if not self.reliable:
                self._interval = self.timers.t1
                self._arm("G", self._interval, now)
            self._arm("L", 64 * self.timers.t1, now)
        return [Send(response, self.response_address)]

    def acknowledge(self, now: float) -> None:
        """The TU's ACK for our 2xx arrived: stop retransmitting it (§13.3.1.4)."""
        self.ack_received = True
        self._deadlines.pop("G", None)

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "G" and self.state in (State.COMPLETED, State.ACCEPTED):
            self._interval = min(2 * self._interval, self.timers.t2)
            self._arm("G", self._interval, now)
            return self._send_last()
        if name == "H" and self.state is State.COMPLETED:
            self._terminate()
            return [TransactionTimeout(self)]
        if name == "L" and self.state is State.ACCEPTED:
            self._terminate()
            return [] if self.ack_received else [TransactionTimeout(self)]
        if name == "I":
            self._terminate()
        return []


class ServerNonInviteTransaction(ServerTransaction):
    """§17.2.2 (Figure 8)."""

    def receive_request(self, request: Request, now: float) -> list[Action]:
        return self._send_last() if self.state in (State.PROCEEDING, State.COMPLETED) else []

    def send_response(self, response: Response, now: float) -> list[Action]:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return []
        self.last_response = response
        if response.status < 200:
            self.state = State.PROCEEDING
        else:
            self.state = State.COMPLETED
            self._arm("J", 0 if self.reliable else 64 * self.timers.t1, now)
        return [Send(response, self.response_address)]

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "J":
            self._terminate()
        return []
