"""Registrar bindings (RFC 3261 §10.3): expiry, several contacts per extension, unregister, q-values,
Call-ID/CSeq ordering, Min-Expires. CC-06."""

from __future__ import annotations

from ketnoi.telephony.sip import Address, NameAddr, Registrar, build_request, parse_uri

SOURCE = Address("udp", "203.0.113.5", 40123)


def register(*contacts: str, expires: str | None = None, call_id: str = "c1", cseq: int = 1):
    headers = [("Expires", expires)] if expires is not None else []
    req = build_request("REGISTER", "sip:ketnoi.test", from_addr=NameAddr(parse_uri("sip:1001@ketnoi.test")),
                        to_addr=NameAddr(parse_uri("sip:1001@ketnoi.test")), call_id=call_id, cseq=cseq,
                        headers=headers)
    for contact in contacts:
        req.headers.add("Contact", contact)
    return req


def test_register_lookup_and_expiry():
    reg = Registrar(min_expires=60, max_expires=3600)
    out = reg.register(register("<sip:1001@10.0.0.5:5060>"), 0.0, source=SOURCE, aor="1001")
    assert out.status == 200 and len(out.added) == 1
    assert out.headers[0] == ("Contact", "<sip:1001@10.0.0.5:5060>;expires=3600")
    (binding,) = reg.lookup("1001", 10.0)
    assert binding.source == SOURCE and binding.expires_in(10.0) == 3590
    assert reg.next_expiry() == 3600.0
    assert reg.lookup("1001", 3600.0) == []
    assert [b.aor for b in reg.expire(3600.0)] == ["1001"] and reg.aors() == []


def test_default_aor_is_the_to_uri():
    reg = Registrar()
    reg.register(register("<sip:1001@10.0.0.5>"), 0.0)
    assert reg.aors() == ["sip:1001@ketnoi.test"]


def test_several_contacts_q_values_and_refresh():
    reg = Registrar(max_contacts=3)
    reg.register(register("<sip:1001@10.0.0.5>;q=0.5", '"desk" <sip:1001@10.0.0.6>;q=0.9;expires=120'),
                 0.0, aor="1001")
    bindings = reg.lookup("1001", 1.0)
    assert [str(b.uri) for b in bindings] == ["sip:1001@10.0.0.6", "sip:1001@10.0.0.5"]
    assert bindings[0].expires_in(1.0) == 119 and bindings[1].q == 0.5
    out = reg.register(register("<sip:1001@10.0.0.5>;q=0.5", cseq=2), 50.0, aor="1001")
    assert out.status == 200 and out.added == [] and len(out.bindings) == 2  # refresh, not a new one
    assert reg.lookup("1001", 130.0)[0].uri.host == "10.0.0.5"  # desk phone expired at 120


def test_max_contacts_evicts_the_oldest_or_refuses():
    reg = Registrar(max_contacts=2)
    for n, host in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
        out = reg.register(register(f"<sip:1001@{host}>", call_id=f"c{n}"), float(n), aor="1001")
    assert out.status == 200 and [b.uri.host for b in out.removed] == ["10.0.0.1"]
    assert sorted(b.uri.host for b in reg.lookup("1001", 3)) == ["10.0.0.2", "10.0.0.3"]
    strict = Registrar(max_contacts=1, evict_oldest=False)
    strict.register(register("<sip:1001@10.0.0.1>"), 0.0, aor="1001")
    assert strict.register(register("<sip:1001@10.0.0.2>", call_id="x"), 1.0, aor="1001").status == 403
    assert strict.register(register("<sip:1001@10.0.0.9>", call_id="y"), 1.0, aor="1001",
                           max_contacts=2).status == 200  # the extension's own limit (CC-06)


def test_unregister_one_and_all():
    reg = Registrar()
    reg.register(register("<sip:1001@10.0.0.1>", "<sip:1001@10.0.0.2>"), 0.0, aor="1001")
    out = reg.register(register("<sip:1001@10.0.0.1>;expires=0", cseq=2), 1.0, aor="1001")
    assert [b.uri.host for b in out.removed] == ["10.0.0.1"] and len(reg.lookup("1001", 1)) == 1
    out = reg.register(register("*", expires="0", cseq=3), 2.0, aor="1001")
    assert out.status == 200 and len(out.removed) == 1 and reg.lookup("1001", 2) == []
    assert [h for h, _ in out.headers] == ["Date"]


def test_rules_that_refuse():
    reg = Registrar(min_expires=60)
    short = reg.register(register("<sip:1001@10.0.0.1>", expires="30"), 0.0, aor="1001")
    assert short.status == 423 and short.headers == [("Min-Expires", "60")]
    assert reg.register(register("*"), 0.0, aor="1001").status == 400  # '*' without Expires: 0
    assert reg.register(register("*", "<sip:a@b>", expires="0"), 0.0, aor="1001").status == 400
    assert reg.register(register("<sip:1001@10.0.0.1>;q=7"), 0.0, aor="1001").status == 400
    assert reg.register(register("<sip:1001@10.0.0.1>", expires="soon"), 0.0, aor="1001").status == 400
    reg.register(register("<sip:1001@10.0.0.1>", cseq=5), 0.0, aor="1001")
    stale = reg.register(register("<sip:1001@10.0.0.1>", cseq=4), 1.0, aor="1001")
    assert stale.status == 500  # same Call-ID, older CSeq (§10.3 step 7)
    capped = reg.register(register("<sip:1001@10.0.0.7>", expires="99999", call_id="z"), 0.0, aor="1001")
    assert capped.bindings[-1].expires_in(0) == 3600
    query = reg.register(register(cseq=9), 2.0, aor="1001")  # no Contact: a query
    assert query.status == 200 and len([h for h in query.headers if h[0] == "Contact"]) == 2
