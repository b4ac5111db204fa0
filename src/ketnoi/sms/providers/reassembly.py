"""Reassembly of concatenated incoming messages (3GPP TS 23.040 §9.2.3.24.1), clock-fed, no I/O.

Parts are keyed by (sender, recipient, reference, total). A part seen twice (the SMSC resent it
because its deliver_sm_resp was lost) replaces the earlier copy. Each part keeps an opaque
``token`` (how to acknowledge it) so the glue can hold acknowledgements until the whole message
is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ketnoi.sms.providers.encoding import decode_payload

MISSING = " […] "


@dataclass
class Part:
    payload: bytes
    data_coding: int
    token: object
    acked: bool = False


@dataclass
class Pending:
    key: tuple
    total: int
    first_seen: float
    parts: dict[int, Part] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.total

    def text(self) -> str:
        """The message text; missing parts are marked. Payloads are joined before decoding, so a
        character split across parts (a UCS-2 surrogate pair) decodes whole."""
        out, run, dcs = [], b"", None
        for seq in range(1, self.total + 1):
            p = self.parts.get(seq)
            if p is None:
                if run:
                    out.append(decode_payload(run, dcs or 0))
                    run = b""
                out.append(MISSING)
                continue
            if dcs is not None and p.data_coding != dcs and run:
                out.append(decode_payload(run, dcs))
                run = b""
            dcs = p.data_coding
            run += p.payload
        if run:
            out.append(decode_payload(run, dcs or 0))
        return "".join(out).strip() if MISSING in out else "".join(out)


class Reassembler:
    def __init__(self, timeout: float = 300.0, max_pending: int = 10000):
        self.timeout, self.max_pending = timeout, max_pending
        self._pending: dict[tuple, Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, sender: str, recipient: str, reference: int, total: int, seq: int, payload: bytes,
            data_coding: int, token: object, now: float) -> Pending:
        key = (sender, recipient, reference, total)
        pend = self._pending.get(key)
        if pend is None:
            pend = self._pending[key] = Pending(key, total, now)
        pend.parts[seq] = Part(payload, data_coding, token)
        return pend

    def pop(self, key: tuple) -> Pending | None:
        return self._pending.pop(key, None)

    def restore(self, pend: Pending) -> None:
        self._pending.setdefault(pend.key, pend)

    def get(self, key: tuple) -> Pending | None:
        return self._pending.get(key)

    def expired(self, now: float) -> list[Pending]:
        """Incomplete messages older than the timeout (or beyond the size bound), removed."""
        out = [p for p in self._pending.values() if now - p.first_seen >= self.timeout]
        if len(self._pending) - len(out) > self.max_pending:
            rest = sorted((p for p in self._pending.values() if p not in out), key=lambda p: p.first_seen)
            out += rest[: len(rest) - self.max_pending]
        for p in out:
            self._pending.pop(p.key, None)
        return out

    def all(self) -> list[Pending]:
        out = list(self._pending.values())
        self._pending.clear()
        return out
