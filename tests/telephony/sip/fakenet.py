"""A fake datagram network for sans-I/O stack tests: moves bytes between SipStack instances on an
injected clock, with an optional loss pattern (aioquic-style). Nothing sleeps."""

from __future__ import annotations

from collections.abc import Callable

from ketnoi.telephony.sip import Address, SipStack


class FakeNetwork:
    def __init__(self, drop: Callable[[bytes, Address, Address], bool] | None = None) -> None:
        self.stacks: dict[Address, SipStack] = {}
        self.drop = drop or (lambda data, src, dst: False)
        self.now = 0.0
        self.wire: list[tuple[float, Address, Address, bytes]] = []  # everything sent, dropped or not
        self.events: dict[Address, list] = {}

    def add(self, stack: SipStack, port: int, host: str = "127.0.0.1") -> Address:
        address = Address("udp", host, port)
        stack.local_addresses["udp"] = (host, port)
        self.stacks[address] = stack
        self.events[address] = []
        return address

    def flush(self) -> None:
        """Deliver until no stack has anything left to send; collect events."""
        busy = True
        while busy:
            busy = False
            for src, stack in list(self.stacks.items()):
                for data, dst, _tx in stack.datagrams_to_send():
                    busy = True
                    self.wire.append((self.now, src, dst, data))
                    target = self.stacks.get(dst)
                    if target is not None and not self.drop(data, src, dst):
                        target.receive_datagram(data, src, self.now)
            for address, stack in self.stacks.items():
                while (event := stack.next_event()) is not None:
                    self.events[address].append(event)

    def run(self, until: float) -> None:
        """Advance the clock to ``until``, firing timers in order."""
        self.flush()
        while True:
            deadlines = [d for s in self.stacks.values() if (d := s.get_timer()) is not None]
            if not deadlines or min(deadlines) > until:
                break
            self.now = max(self.now, min(deadlines))
            for stack in self.stacks.values():
                stack.handle_timer(self.now)
            self.flush()
        self.now = max(self.now, until)

    def sent(self, src: Address, first_word: bytes) -> list[bytes]:
        return [d for _, s, _, d in self.wire if s == src and d.startswith(first_word)]

    def take(self, address: Address, kind: type) -> list:
        found = [e for e in self.events[address] if isinstance(e, kind)]
        self.events[address] = [e for e in self.events[address] if not isinstance(e, kind)]
        return found
