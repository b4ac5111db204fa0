"""Pure pieces of the engine: digest verification from HA1 with MD5 and SHA-256 (RFC 8760, answered
by the SIP core's DigestClient), failure choice among forks, codec order, and the service switch."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from ketnoi.telephony.engine.auth import ExtensionAuth
from ketnoi.telephony.engine.b2bua import codecs_for
from ketnoi.telephony.engine.call import best_failure, disposition_for
from ketnoi.telephony.pbx.config import ExtensionConfig, GeneralConfig, PbxConfig
from ketnoi.telephony.sip.auth import DigestClient
from ketnoi.telephony.sip.dialog import build_request
from ketnoi.telephony.sip.headers import NameAddr
from ketnoi.telephony.sip.message import make_response
from ketnoi.telephony.sip.uri import parse_uri


def config(realm: str = "ketnoi") -> PbxConfig:
    def ha1(h):
        return h(f"1001:{realm}:demo1001".encode()).hexdigest()

    ext = ExtensionConfig(id="e1", number="1001", display_name="", ha1_md5=ha1(hashlib.md5),
                          ha1_sha256=ha1(hashlib.sha256), caller_id_name="", caller_id_number="", codecs=("PCMU",),
                          record=False, max_contacts=3, permit=())
    return PbxConfig("org", 1, "2026-11-22T00:00:00", GeneralConfig(realm=realm), extensions=(ext,))


def register(cseq: int = 1):
    aor = NameAddr(parse_uri("sip:1001@127.0.0.1"))
    return build_request("REGISTER", "sip:127.0.0.1", from_addr=aor, to_addr=aor, call_id="c1", cseq=cseq)


def challenged(auth: ExtensionAuth, request, now: float = 0.0):
    return make_response(request, 401, headers=auth.challenge(now))


def test_digest_from_ha1_with_md5_and_sha256():
    for order, expected in (("SHA-256,MD5", "SHA-256"), ("MD5", "MD5")):
        auth = ExtensionAuth(config(), algorithms=order)
        request = register()
        signed = DigestClient("1001", "demo1001").authorize(request, challenged(auth, request))
        assert f"algorithm={expected}" in signed.headers.get("authorization")
        assert auth.verify(signed, "1001", 1.0).ok
        assert auth.verify(signed, "1001", 1.0).reason == "nonce count replayed"  # replay refused
        wrong = DigestClient("1001", "not-it").authorize(request, challenged(auth, request))
        assert auth.verify(wrong, "1001", 1.0).reason == "wrong response"
        assert auth.verify(signed, "1002", 1.0).reason == "credentials of another user"


def test_expired_nonce_is_stale_and_a_new_realm_refuses_old_nonces():
    auth = ExtensionAuth(config(), nonce_ttl=30)
    request = register()
    signed = DigestClient("1001", "demo1001").authorize(request, challenged(auth, request, now=0.0))
    result = auth.verify(signed, "1001", 100.0)
    assert not result.ok and result.stale
    auth.on_config(config(realm="tinh-a"))
    assert not auth.verify(signed, "1001", 1.0).ok


def test_failure_choice_and_dispositions():
    assert best_failure([]) == 480
    assert best_failure([503, 486]) == 486
    assert best_failure([408, 487]) == 480
    assert best_failure([503, 404]) == 404
    assert best_failure([500, 503]) == 503
    assert best_failure([486, 603]) == 603
    assert [disposition_for(s) for s in (486, 600, 480, 408, 487, 503, 403)] == \
        ["busy", "busy", "no_answer", "no_answer", "no_answer", "failed", "failed"]


def test_codec_order_follows_the_object_within_the_pbx_codecs():
    assert [c.name for c in codecs_for(("PCMU", "PCMA"), ("PCMA", "PCMU"))] == ["PCMU", "PCMA"]
    assert [c.name for c in codecs_for(("PCMU",), ("PCMA",))] == ["PCMA"]  # nothing allowed: the PBX's own


async def test_the_service_is_off_with_no_telephony(database):
    from ketnoi.settings import get_settings
    from ketnoi.telephony.engine import service

    app = SimpleNamespace(state=SimpleNamespace(settings=get_settings().model_copy(update={"telephony": False}),
                                                database=database))
    assert await service.start(app) is None and app.state.telephony is None
    app.state.settings = get_settings().model_copy(update={"telephony": True})
    stop = await service.start(app)  # no organization has applied a PBX configuration: nothing listens
    assert stop is not None and app.state.telephony.tenants == {}
    await stop()


def test_serve_has_a_no_telephony_switch():
    from typer.testing import CliRunner

    from ketnoi.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--no-telephony" in result.output
