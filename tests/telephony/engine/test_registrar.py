"""The registrar with real phones (CC-06, RFC 3261 §10 and §22): SIPp registers with a digest
challenge over UDP and TCP, a wrong password is refused, several contacts per extension."""

from __future__ import annotations

import asyncio

from tests.telephony.engine.conftest import SECRETS, needs_peers
from tests.telephony.peers import Sipp

pytestmark = needs_peers


async def test_register_with_digest_challenge_then_unregister(harness):
    harness.extensions("1001")
    harness.settings.sip_digest_algorithms = "MD5,SHA-256"  # both challenges (RFC 8760); SIPp takes MD5
    await harness.start()
    for transport in ("u1", "t1"):
        sipp = Sipp("register", remote=harness.address, user="1001", password=SECRETS["1001"], transport=transport,
                    keys={"ext": "1001", "expires": "120"}, timeout=15)
        result = await sipp.run()
        assert result.ok, result.explain()
        assert 'realm="ketnoi"' in result.logs and "algorithm=MD5" in result.logs
        assert "algorithm=SHA-256" in result.messages
        assert "granted=expires=120" in result.logs
        assert "unregistered" in result.logs
        sipp.cleanup()
    assert harness.tenant.registrar.contacts("1001") == []  # the binding was removed
    stats = harness.tenant.registrar.stats
    assert stats["registered"] >= 4 and stats["challenged"] >= 2


async def test_wrong_password_is_refused_and_nothing_is_bound(harness):
    harness.extensions("1001")
    await harness.start()
    sipp = Sipp("register_bad_password", remote=harness.address, user="1001", password="not-the-secret",
                keys={"ext": "1001"}, timeout=15)
    result = await sipp.run()
    assert result.ok, result.explain()
    assert "refused" in result.logs
    assert harness.tenant.registrar.contacts("1001") == []
    # An extension that does not exist is challenged, then refused the same way (no enumeration).
    sipp = Sipp("register_bad_password", remote=harness.address, user="1999", password="whatever",
                keys={"ext": "1999"}, timeout=15)
    result = await sipp.run()
    assert result.ok, result.explain()
    assert harness.tenant.registrar.stats["refused"] >= 2


async def test_several_contacts_per_extension(harness):
    harness.extensions("1002", max_contacts=2)
    await harness.start()
    runs = []
    for _ in range(3):  # a third phone replaces the oldest binding (max_contacts 2)
        sipp = Sipp("register_only", remote=harness.address, user="1002", password=SECRETS["1002"],
                    keys={"ext": "1002", "expires": "300"}, timeout=15)
        result = await sipp.run()
        assert result.ok, result.explain()
        runs.append(sipp.port)
        sipp.cleanup()
    contacts = harness.tenant.registrar.contacts("1002")
    assert len(contacts) == 2
    assert {c.uri.port for c in contacts} == set(runs[1:])
    assert all(c.source is not None and c.source.host == "127.0.0.1" for c in contacts)


async def test_nat_keepalive_pings_every_contact_where_its_register_came_from(harness):
    harness.extensions("1001")
    harness.settings.sip_keepalive_seconds = 1
    await harness.start()
    reg = Sipp("register_only", remote=harness.address, user="1001", password=SECRETS["1001"],
               keys={"ext": "1001", "expires": "300"}, timeout=15)
    assert (await reg.run()).ok
    reg.cleanup()
    phone = Sipp("uas_echo", port=reg.port, timeout=20)  # -aa: answers the keep-alive OPTIONS 200
    await phone.start()
    try:
        for _ in range(150):
            if (phone.dir / "messages.log").exists() and "OPTIONS sip:1001@127.0.0.1" in \
                    (phone.dir / "messages.log").read_text(errors="replace"):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        await phone.stop()
    assert "OPTIONS sip:1001@127.0.0.1" in phone.result().messages
    [binding] = harness.tenant.registrar.contacts("1001")
    assert harness.tenant.registrar.reachable[str(binding.uri)] is True
    phone.cleanup()
