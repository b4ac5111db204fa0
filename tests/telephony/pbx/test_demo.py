"""`make run DEMO=1` telephony (issue 5): extensions 1001–1006 with demo passwords, a loopback peer
trunk, DID 1022 → a Vietnamese espeak-ng welcome (8 kHz WAV) → extension 1001, already applied;
loading twice changes nothing."""

from __future__ import annotations

import wave

from ketnoi.telephony.pbx import secretbox, service
from ketnoi.telephony.pbx.config import Destination
from ketnoi.telephony.pbx.demo import provision_demo
from ketnoi.telephony.pbx.routing import match_inbound


def test_demo_pbx(world, database):
    lines = provision_demo(database, world.org_a)
    assert any("1001, 1002, 1003, 1004, 1005, 1006" in x for x in lines)
    assert any("đã áp dụng" in x for x in lines), lines
    with database.session() as s:
        cfg = service.load_applied_config(s, world.org_a)
    assert [e.number for e in cfg.extensions] == [f"100{n}" for n in range(1, 7)]
    for n in range(1, 7):
        e = cfg.extension(f"100{n}")
        assert e.ha1_md5 == secretbox.ha1(e.number, cfg.settings.realm, f"demo100{n}")[0]
    loopback = cfg.trunk_for_address("127.0.0.1")
    assert loopback is not None and loopback.kind == "peer" and cfg.trunk_for_address("10.0.0.1") is None
    dest = match_inbound(cfg, "1022", "0912345678")
    assert dest.kind == "play" and dest.next == Destination("extension", "1001")
    prompt = cfg.sound(dest.ref)
    with wave.open(prompt.path, "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000 * 3  # a spoken sentence, several seconds long
    assert prompt.duration_ms > 3000

    assert provision_demo(database, world.org_a) == []  # idempotent
    with database.session() as s:
        assert service.status(s, world.org_a).dirty is False
