"""Staging and Apply (CC-05…14): every change is staged, Apply validates the whole configuration
(with errors naming the object, in Vietnamese), stores an immutable snapshot the engine loads, and
publishes pbx.applied only after the commit."""

from __future__ import annotations

import pytest

from ketnoi.core.errors import DomainError, ValidationFailed
from ketnoi.events import bus
from ketnoi.telephony.pbx import extensions, routes, secretbox, service, sounds
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx.config import Destination
from ketnoi.telephony.pbx.models import Extension, PbxState, Trunk
from ketnoi.telephony.pbx.routing import match_inbound, match_outbound


def _messages(errors):
    return " | ".join(e["message"] for e in errors)


def test_changes_are_staged_until_applied(pbx, database):
    assert pbx.status().dirty is False and pbx.applied() is None
    e1 = pbx.ext("1001", display_name="Tổng đài viên")
    st = pbx.status()
    assert st.dirty and st.revision == 1 and st.applied_revision == 0
    pbx.inbound("Hotline", "1022", ref=e1)
    pbx.apply()
    st = pbx.status()
    assert not st.dirty and st.applied_revision == st.revision == 2 and st.applied_by
    cfg = pbx.applied()
    assert cfg.revision == 2 and [e.number for e in cfg.extensions] == ["1001"]
    assert match_inbound(cfg, "1022", "0912345678") == Destination("extension", "1001")

    pbx.ext("1002")  # staged: the running configuration does not change
    assert pbx.status().dirty
    assert [e.number for e in pbx.applied().extensions] == ["1001"]
    pbx.apply()
    assert [e.number for e in pbx.applied().extensions] == ["1001", "1002"]


def test_unchanged_saves_do_not_stage(pbx, database):
    e = pbx.ext("1001")
    pbx.apply()
    with database.session() as s:
        extensions.update_extension(s, pbx.p, e, S.ExtensionPatch(display_name=""))
    assert not pbx.status().dirty


def test_pbx_applied_is_published_after_commit(pbx, database):
    seen = []
    bus.subscribe(seen.append)
    try:
        pbx.ext("1001")
        with pytest.raises(RuntimeError), database.session() as s:
            service.apply(s, pbx.p, pbx.org)
            assert not [e for e in seen if e.type == "pbx.applied"]  # not before the commit
            raise RuntimeError("rollback")
        assert not [e for e in seen if e.type == "pbx.applied"] and pbx.status().dirty
        pbx.apply()
    finally:
        bus.unsubscribe(seen.append)
    applied = [e for e in seen if e.type == "pbx.applied"]
    assert len(applied) == 1 and applied[0].org_id == pbx.org and applied[0].data["revision"] == 1
    assert applied[0].permission == "telephony.settings.read"


def test_extension_secret_is_kept_as_ha1_and_sealed(pbx, database):
    eid = pbx.ext("1001", secret="demo1001")
    pbx.apply()
    e = pbx.applied().extension("1001")
    md5, sha = secretbox.ha1("1001", "ketnoi", "demo1001")
    assert (e.ha1_md5, e.ha1_sha256) == (md5, sha)
    with database.session() as s:
        row = s.get(Extension, eid)
        assert "demo1001" not in row.secret_sealed and secretbox.unseal(row.secret_sealed) == "demo1001"
        # a new realm recomputes every HA1 from the sealed secret
        service.update_settings(s, pbx.p, pbx.org, S.SettingsPatch(sip_realm="demo.ketnoi.vn"))
    pbx.apply()
    assert pbx.applied().extension("1001").ha1_md5 == secretbox.ha1("1001", "demo.ketnoi.vn", "demo1001")[0]
    with database.session() as s:  # renumbering keeps the secret, with a new HA1 for the new username
        extensions.update_extension(s, pbx.p, eid, S.ExtensionPatch(number="1009"))
    pbx.apply()
    assert pbx.applied().extension("1009").ha1_md5 == secretbox.ha1("1009", "demo.ketnoi.vn", "demo1001")[0]


def test_trunk_password_is_sealed_in_the_snapshot_and_opened_on_load(pbx, database):
    pbx.trunk("VNPT", password="mat-khau-vnpt")
    pbx.apply()
    with database.session() as s:
        raw = s.query(PbxState).one().applied_config
        assert "mat-khau-vnpt" not in str(raw)
        assert s.query(Trunk).one().password_sealed.startswith("v1.")
    assert pbx.applied().trunks[0].password == "mat-khau-vnpt"


def test_secretbox_detects_tampering_and_a_changed_key():
    token = secretbox.seal("bí mật", "khoa-1")
    assert secretbox.unseal(token, "khoa-1") == "bí mật"
    assert secretbox.seal("bí mật", "khoa-1") != token  # fresh nonce each time
    with pytest.raises(secretbox.SecretUnavailable):
        secretbox.unseal(token, "khoa-2")
    body = bytearray(token.encode())
    body[-5] = ord("A") if body[-5] != ord("A") else ord("B")
    with pytest.raises(secretbox.SecretUnavailable):
        secretbox.unseal(body.decode(), "khoa-1")
    with pytest.raises(secretbox.SecretUnavailable):
        secretbox.unseal("không-phải-token", "khoa-1")


def test_disabled_objects_stay_out_of_the_snapshot(pbx, database):
    pbx.ext("1001")
    pbx.ext("1002", enabled=False)
    pbx.trunk("Tắt", enabled=False)
    pbx.apply()
    cfg = pbx.applied()
    assert [e.number for e in cfg.extensions] == ["1001"] and cfg.trunks == ()


# --- what Apply refuses -------------------------------------------------------------------------
def test_dangling_destination_disabled_extension(pbx, database):
    e = pbx.ext("1001")
    r = pbx.inbound("Hotline", "1022", ref=e)
    with database.session() as s:
        extensions.update_extension(s, pbx.p, e, S.ExtensionPatch(enabled=False))
    with pytest.raises(service.ApplyRefused) as exc:
        pbx.apply()
    assert exc.value.status == 422 and "Cấu hình tổng đài có 1 lỗi" in exc.value.detail
    assert exc.value.errors == [{"field": f"inbound_routes.{r}",
                                 "message": "Tuyến gọi vào «Hotline»: đích đến là máy nhánh 1001 đang tắt."}]
    assert pbx.applied() is None  # nothing was applied
    # a disabled route with the same problem is no problem
    with database.session() as s:
        routes.update_inbound(s, pbx.p, r, S.InboundRoutePatch(enabled=False))
    pbx.apply()


def test_objects_in_use_cannot_be_deleted(pbx, database):
    e = pbx.ext("1001")
    snd = pbx.sound("Lời chào")
    r = pbx.inbound("Hotline", "1022", ref=e, prompt_sound_id=snd)
    t = pbx.trunk("VNPT")
    ps = pbx.pin_set("Lãnh đạo", ["1234"])
    pbx.outbound("Di động", [{"match": "_0XXXXXXXXX"}], [t], pin_set_id=ps)
    pbx.inbound("Chuyển", "1023", kind="route", ref=r)
    cases = [(extensions.delete_extension, e, "Máy nhánh 1001 đang là đích đến của tuyến gọi vào Hotline"),
             (sounds.delete_sound, snd, "Tệp âm thanh «Lời chào» đang được dùng bởi tuyến gọi vào «Hotline»"),
             (extensions.delete_trunk, t, "Trunk VNPT đang được dùng bởi tuyến gọi ra Di động"),
             (routes.delete_pin_set, ps, "Bộ mã PIN Lãnh đạo đang được dùng bởi tuyến gọi ra Di động"),
             (routes.delete_inbound, r, "Tuyến Hotline là đích đến của tuyến Chuyển")]
    for fn, obj_id, message in cases:
        with pytest.raises(DomainError) as exc, database.session() as s:
            fn(s, pbx.p, obj_id)
        assert exc.value.status == 409 and message in exc.value.detail, exc.value.detail


def test_route_loops_are_refused(pbx, database):
    a = pbx.inbound("A", "1022", kind="hangup")
    b = pbx.inbound("B", "1023", kind="route", ref=a)
    with database.session() as s:
        routes.update_inbound(s, pbx.p, a, S.InboundRoutePatch(destination=S.DestinationIn(kind="route", ref=b)))
    errors = pbx.check()
    assert any("vòng lặp" in e["message"] for e in errors), errors
    with pytest.raises(DomainError) as exc, database.session() as s:  # a route to itself is refused at once
        routes.update_inbound(s, pbx.p, a, S.InboundRoutePatch(destination=S.DestinationIn(kind="route", ref=a)))
    assert "chính nó" in exc.value.detail


def test_route_jumps_and_prompts_are_resolved_in_the_snapshot(pbx, database):
    e = pbx.ext("1001")
    snd = pbx.sound("Chào")
    main = pbx.inbound("Chính", "1022", ref=e, prompt_sound_id=snd)
    pbx.inbound("Số phụ", "1023", kind="route", ref=main)
    pbx.inbound("Ngoài giờ", "1024", kind="play", ref=snd)
    pbx.apply()
    cfg = pbx.applied()
    welcome = Destination("play", snd, Destination("extension", "1001"))
    assert match_inbound(cfg, "1022", "") == welcome == match_inbound(cfg, "1023", "")
    assert match_inbound(cfg, "1024", "") == Destination("play", snd)
    assert cfg.sound(snd).path.endswith(f"{snd}.wav")


def test_overlapping_inbound_patterns_of_equal_rank(pbx, database):
    e = pbx.ext("1001")
    pbx.inbound("Mười", "_10XX", ref=e)
    pbx.inbound("Một-hai", "_1X2X", ref=e)
    pbx.inbound("Chính xác", "1022", ref=e)  # more specific: fine
    pbx.inbound("Khác", "_20XX", ref=e)  # no common number: fine
    errors = pbx.check()
    assert len(errors) == 1 and "cùng nhận một số cuộc gọi" in errors[0]["message"], errors
    assert "«Mười» (DID _10XX)" in errors[0]["message"] and "«Một-hai» (DID _1X2X)" in errors[0]["message"]


def test_duplicate_routes_for_the_same_did_and_caller(pbx, database):
    e = pbx.ext("1001")
    pbx.inbound("A", "1022", ref=e)
    pbx.inbound("B", "1022", ref=e)
    pbx.inbound("C", "1022", caller_pattern="_09XXXXXXXX", ref=e)
    assert len(pbx.check()) == 1


def test_extension_number_equal_to_a_did(pbx, database):
    e = pbx.ext("1022")
    pbx.inbound("Hotline", "1022", ref=e)
    assert "Số máy nhánh 1022 trùng với số gọi vào (DID) của tuyến «Hotline»" in _messages(pbx.check())


def test_outbound_needs_an_enabled_trunk_and_a_pin_set_with_pins(pbx, database):
    t = pbx.trunk("VNPT", enabled=False)
    ps = pbx.pin_set("Trống", [])
    pbx.outbound("Di động", [{"match": "_0XXXXXXXXX"}], [t], pin_set_id=ps)
    peer = pbx.peer("Đối tác", ["198.51.100.7"])
    pbx.outbound("Đối tác", [{"prefix": "8", "match": "_X."}], [peer])
    text = _messages(pbx.check())
    assert "Tuyến gọi ra «Di động» không có trunk nào đang bật." in text
    assert "yêu cầu mã PIN nhưng bộ «Trống» chưa có mã nào" in text
    assert "dùng trunk «Đối tác» nhưng trunk này chưa có địa chỉ" in text


def test_peer_trunks_with_overlapping_networks(pbx, database):
    pbx.peer("Nhà mạng 1", ["203.0.113.0/28"])
    pbx.peer("Nhà mạng 2", ["203.0.113.8"])
    pbx.peer("Nhà mạng 3", ["198.51.100.0/24"])
    assert "có dải IP chồng nhau" in _messages(pbx.check())


def test_inbound_destination_number_must_be_routable(pbx, database):
    pbx.inbound("Chuyển ngoài", "1099", kind="number", ref="0912345678")
    assert "không tuyến gọi ra nào nhận số này" in _messages(pbx.check())
    t = pbx.trunk("VNPT")
    pbx.outbound("Di động", [{"match": "_0XXXXXXXXX"}], [t])
    assert pbx.check() == []
    pbx.apply()
    cfg = pbx.applied()
    assert match_outbound(cfg, match_inbound(cfg, "1099", "").ref).route.name == "Di động"


def test_sound_file_missing_on_disk(pbx, database):
    e = pbx.ext("1001")
    snd = pbx.sound("Chào")
    pbx.inbound("Hotline", "1022", ref=e, prompt_sound_id=snd)
    with database.session() as s:
        from ketnoi.telephony.pbx.models import SoundFile

        sounds.sound_path(s.get(SoundFile, snd)).unlink()
    assert "tệp âm thanh «Chào» không còn trên máy chủ" in _messages(pbx.check())


def test_sip_ports_must_differ_between_organizations(pbx, pbx_b, database):
    pbx.ext("1001")
    pbx.apply()
    pbx_b.ext("2001")
    errors = pbx_b.check()
    assert {e["field"] for e in errors} == {"settings.sip_udp_port", "settings.sip_tcp_port"}
    assert "đang được tổ chức «Tỉnh A» dùng" in errors[0]["message"]
    with database.session() as s:
        service.update_settings(s, pbx_b.p, pbx_b.org, S.SettingsPatch(sip_udp_port=5070, sip_tcp_port=5070))
    pbx_b.apply()
    with database.session() as s:
        assert {c.organization_id for c in service.applied_configs(s)} == {pbx.org, pbx_b.org}


@pytest.mark.parametrize("patch, field, message", [
    ({"rtp_port_min": 20000, "rtp_port_max": 10000}, "rtp_port_max", "lớn hơn cổng RTP đầu"),
    ({"rtp_port_min": 10000, "rtp_port_max": 10010}, "rtp_port_max", "ít nhất 20 cổng"),
    ({"sip_udp_port": 12000}, "sip_udp_port", "nằm trong dải cổng RTP"),
])
def test_settings_are_checked_on_save(pbx, database, patch, field, message):
    with pytest.raises(ValidationFailed) as exc, database.session() as s:
        service.update_settings(s, pbx.p, pbx.org, S.SettingsPatch(**patch))
    assert exc.value.errors[0]["field"] == field and message in exc.value.errors[0]["message"]


def test_settings_reach_the_snapshot(pbx, database):
    pbx.ext("1001", recording="default")
    pbx.ext("1002", recording="off", codecs=["PCMU"])
    with database.session() as s:
        service.update_settings(s, pbx.p, pbx.org, S.SettingsPatch(
            codecs=["PCMU", "PCMA"], recording_enabled=True, recording_mode="mixed", public_address="113.160.1.2",
            local_networks=["192.168.1.0/24"], sip_udp_port=5080, sip_tcp_port=5080, prompt_language="vi"))
    pbx.apply()
    cfg = pbx.applied()
    s = cfg.settings
    assert (s.codecs, s.recording_mode, s.public_address, s.local_networks, s.sip_udp_port) == (
        ("PCMU", "PCMA"), "mixed", "113.160.1.2", ("192.168.1.0/24",), 5080)
    assert cfg.extension("1001").record is True and cfg.extension("1001").codecs == ("PCMU", "PCMA")
    assert cfg.extension("1002").record is False and cfg.extension("1002").codecs == ("PCMU",)


def test_deleted_sound_file_stays_until_an_apply_no_longer_needs_it(pbx, database):
    snd = pbx.sound("Cũ")
    pbx.apply()
    path = pbx.applied().sound(snd).path
    with database.session() as s:
        sounds.delete_sound(s, pbx.p, snd)
    import os
    from pathlib import Path

    assert Path(path).is_file()  # the running configuration may still play it
    os.utime(path, (0, 0))  # old enough for the clean-up
    pbx.apply()
    assert Path(path).is_file()  # the snapshot just replaced still named it (calls may be playing it)
    pbx.apply()
    assert not Path(path).exists()
