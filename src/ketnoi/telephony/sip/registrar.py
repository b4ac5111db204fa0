"""Registrar binding logic (RFC 3261 §10.3), sans-I/O and in memory: expiry, several contacts per
address-of-record, ``*`` and Expires 0 unregistration, q-values, Call-ID/CSeq ordering (CC-06)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import formatdate

from .errors import ParseError
from .events import Address
from .headers import NameAddr, format_params
from .message import Request
from .uri import URI, SipURI, TelURI

__all__ = ["Binding", "RegisterOutcome", "Registrar", "aor_of"]


@dataclass(slots=True)
class Binding:
    """One registered contact of an AOR. ``source`` is where its REGISTER came from: behind NAT,
    requests for this contact must go there (RFC 3581 / RFC 5626 style symmetric routing)."""

    aor: str
    contact: NameAddr
    expires_at: float
    call_id: str
    cseq: int
    source: Address | None = None
    q: float | None = None
    user_agent: str | None = None
    registered_at: float = 0.0

    @property
    def uri(self) -> URI:
        return self.contact.uri

    @property
    def instance(self) -> str | None:
        """The ``+sip.instance`` of RFC 5626, when the phone sent one."""
        return self.contact.params.get("+sip.instance")

    def expires_in(self, now: float) -> int:
        return max(0, round(self.expires_at - now))

    def header_value(self, now: float) -> str:
        params = {k: v for k, v in self.contact.params.items() if k != "expires"}
        params["expires"] = str(self.expires_in(now))
        return f"<{self.contact.uri}>{format_params(params)}"


@dataclass(slots=True)
class RegisterOutcome:
    """What to answer: ``status`` and ``headers`` (Contact list, Min-Expires, Date…), plus what
    changed, for events and audit."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    added: list[Binding] = field(default_factory=list)
    removed: list[Binding] = field(default_factory=list)
    reason: str | None = None


class Registrar:
    """Binding store. ``register()`` applies one REGISTER (already authenticated by the caller);
    ``lookup()`` gives the live contacts of an AOR, best q first; ``expire()`` drops stale ones.

    When an AOR would exceed ``max_contacts``, the oldest binding is replaced (a phone that moved
    keeps working) unless ``evict_oldest`` is false, then the REGISTER is refused with 403.
    """

    def __init__(self, *, min_expires: int = 60, max_expires: int = 3600, default_expires: int = 3600,
                 max_contacts: int = 5, evict_oldest: bool = True) -> None:
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_contacts = max_contacts
        self.evict_oldest = evict_oldest
        self._bindings: dict[str, list[Binding]] = {}

    def aors(self) -> list[str]:
        return list(self._bindings)

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor``, highest q first, then most recently registered."""
        live = [b for b in self._bindings.get(aor, []) if b.expires_at > now]
        return sorted(live, key=lambda b: (-(b.q if b.q is not None else 1.0), -b.registered_at))

    def expire(self, now: float) -> list[Binding]:
        """Remove and return every binding past its expiry."""
        gone: list[Binding] = []
        for aor in list(self._bindings):
            keep = [b for b in self._bindings[aor] if b.expires_at > now]
            gone += [b for b in self._bindings[aor] if b.expires_at <= now]
            if keep:
                self._bindings[aor] = keep
            else:
                del self._bindings[aor]
        return gone

    def next_expiry(self) -> float | None:
        times = [b.expires_at for bindings in self._bindings.values() for b in bindings]
        return min(times) if times else None

    def remove_all(self, aor: str) -> list[Binding]:
        return self._bindings.pop(aor, [])

    def _expires(self, value: str | None) -> int | None:
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit():
            raise ParseError("bad expires value")
        return min(int(value[:12]), 2**32 - 1)

    def register(self, request: Request, now: float, *, aor: str | None = None,
                 source: Address | None = None, max_contacts: int | None = None) -> RegisterOutcome:
        """Apply a REGISTER (§10.3 steps 6–8). ``aor`` defaults to the To URI's ``sip:user@host``;
        ``max_contacts`` overrides the registrar's limit (the extension's own setting, CC-06)."""
        try:
            return self._register(request, now, aor or aor_of(request.to_addr.uri), source,
                                  max_contacts or self.max_contacts)
        except ParseError as exc:
            return RegisterOutcome(400, reason=str(exc))

    def _register(self, request: Request, now: float, aor: str, source: Address | None,
                  limit: int) -> RegisterOutcome:
        call_id, cseq = request.call_id, request.cseq.seq
        header_expires = self._expires(request.headers.get("expires"))
        raw_contacts = request.headers.get_all("contact")
        current = self._bindings.get(aor, [])
        if any(v.strip() == "*" for v in raw_contacts):
            if len(raw_contacts) != 1 or header_expires != 0:
                return RegisterOutcome(400, reason="'*' needs Expires: 0 and no other Contact")
            for binding in current:
                if binding.call_id == call_id and cseq <= binding.cseq:
                    return RegisterOutcome(500, reason="out-of-order CSeq")
            removed = self._bindings.pop(aor, [])
            return RegisterOutcome(200, self._answer([], now), [], [], removed)
        updates: list[tuple[NameAddr, int, float | None]] = []
        for contact in request.contacts:
            expires = self._expires(contact.params.get("expires"))
            if expires is None:
                expires = header_expires if header_expires is not None else self.default_expires
            if 0 < expires < self.min_expires:
                return RegisterOutcome(423, [("Min-Expires", str(self.min_expires))],
                                       reason="interval too brief")
            q = contact.params.get("q")
            q_value = float(q) if q is not None and _is_q(q) else None
            if q is not None and q_value is None:
                return RegisterOutcome(400, reason="bad q value")
            updates.append((contact, min(expires, self.max_expires), q_value))
        bindings = list(current)
        added: list[Binding] = []
        removed: list[Binding] = []
        for contact, expires, q in updates:
            existing = next((b for b in bindings if b.uri.equivalent(contact.uri)), None)
            if existing is not None:
                if existing.call_id == call_id and cseq <= existing.cseq:
                    return RegisterOutcome(500, reason="out-of-order CSeq")
                bindings.remove(existing)
                if expires == 0:
                    removed.append(existing)
                    continue
            elif expires == 0:
                continue
            binding = Binding(aor, contact, now + expires, call_id, cseq, source, q,
                              request.headers.get("user-agent"), now)
            bindings.append(binding)
            if existing is None:
                added.append(binding)
        while len(bindings) > limit:
            if not self.evict_oldest:
                return RegisterOutcome(403, reason="too many contacts")
            oldest = min(bindings, key=lambda b: b.registered_at)
            bindings.remove(oldest)
            removed.append(oldest)
            if oldest in added:
                added.remove(oldest)
        if bindings:
            self._bindings[aor] = bindings
        else:
            self._bindings.pop(aor, None)
        return RegisterOutcome(200, self._answer(bindings, now), list(bindings), added, removed)

    def _answer(self, bindings: list[Binding], now: float) -> list[tuple[str, str]]:
        headers = [("Contact", b.header_value(now)) for b in bindings]
        headers.append(("Date", formatdate(usegmt=True)))
        return headers


def aor_of(uri: URI) -> str:
    """The address-of-record key of a URI: ``sip:user@host`` (§10.3 step 5) or ``tel:digits``."""
    if isinstance(uri, SipURI):
        return uri.aor
    if isinstance(uri, TelURI):
        return f"tel:{uri.digits}"
    return str(uri).lower()


def _is_q(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0 and len(text) <= 5
    except ValueError:
        return False
