"""PBX console pages (/telephony): lists with search and paging, simple and advanced extension
forms with inline Vietnamese errors, the 'unapplied changes' banner and its Apply button (with the
validation errors when Apply refuses), routes, PIN sets, sound upload with an <audio> player, and
the call history with the recording player for holders of ``telephony.recordings``."""

from __future__ import annotations

import html
import re

from ketnoi.telephony.pbx import cdr
from tests.telephony.pbx.conftest import wav_bytes
from tests.web.test_console import console_login, csrf_of


def login_as(client, username: str) -> str:
    client.cookies.clear()
    assert console_login(client, username).status_code == 303
    return csrf_of(client.get("/account/profile").text)


def text_of(r) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", r.text))


def test_menu_and_empty_pages(client, world, admin):
    login_as(client, "tongdai")
    home = client.get("/").text
    for url in ("/telephony/calls", "/telephony/extensions", "/telephony/trunks", "/telephony/inbound-routes",
                "/telephony/outbound-routes", "/telephony/pin-sets", "/telephony/sounds", "/telephony/settings"):
        assert f'href="{url}"' in home, url
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
    assert "Tổng đài" in home


def test_extension_forms_banner_and_apply(client, world, admin):
    csrf = login_as(client, "tongdai")
    simple = client.get("/telephony/extensions/new").text
    assert 'name="number"' in simple and 'name="codecs"' not in simple and "Biểu mẫu nâng cao" in simple
    advanced = client.get("/telephony/extensions/new?mode=advanced").text
    assert 'name="codecs"' in advanced and 'name="permit"' in advanced

    r = client.post("/telephony/extensions/new?mode=simple", data={"csrf_token": csrf, "number": "1a",
                                                                   "secret": "ngan", "enabled": "1"})
    assert r.status_code == 422
    t = text_of(r)
    assert "Số máy nhánh gồm 2–10 chữ số." in t and "Cần ít nhất 8 ký tự." in t and 'value="ngan"' not in r.text
    r = client.post("/telephony/extensions/new?mode=advanced", data={
        "csrf_token": csrf, "number": "1001", "display_name": "Tổng đài viên 1", "secret": "demo1001", "enabled": "1",
        "codecs": "PCMU", "recording": "on", "max_contacts": "2", "permit": "192.168.1.0/24\n10.0.0.5"},
        follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    page = client.get(r.headers["location"])
    assert "Đã lưu máy nhánh 1001" in page.text and "Có thay đổi cấu hình tổng đài chưa được áp dụng" in page.text
    assert "Tổng đài viên 1" in page.text
    ext_id = re.search(r'href="/telephony/extensions/([0-9a-f]{32})"', page.text).group(1)
    edit = client.get(f"/telephony/extensions/{ext_id}?mode=advanced").text
    assert "192.168.1.0/24\n10.0.0.5/32" in html.unescape(edit) and 'value="demo1001"' not in edit

    apply_url = html.unescape(re.search(r'action="(/telephony/apply\?[^"]+)"', page.text).group(1))
    r = client.post(apply_url, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/telephony/extensions")
    page = client.get(r.headers["location"])
    assert "Đã áp dụng cấu hình tổng đài" in page.text and "chưa được áp dụng" not in page.text


def test_apply_shows_what_to_fix(client, world, admin, pbx):
    e = pbx.ext("1001", enabled=False)
    rid = pbx.inbound("Hotline", "1022", ref=e)
    csrf = login_as(client, "tongdai")
    check = client.get("/telephony/apply")
    assert check.status_code == 200 and "đích đến là máy nhánh 1001 đang tắt" in check.text
    assert f'href="/telephony/inbound-routes/{rid}"' in check.text
    r = client.post("/telephony/apply", data={"csrf_token": csrf})
    assert r.status_code == 422 and "Cấu hình tổng đài có 1 lỗi" in r.text
    assert "đích đến là máy nhánh 1001 đang tắt" in r.text
    r = client.post("/telephony/apply?next=https://evil.example/", data={"csrf_token": csrf})
    assert r.status_code == 422  # still refused; and a foreign next= is never followed (below)
    pbx_fix = client.post(f"/telephony/extensions/{e}?mode=simple", data={"csrf_token": csrf, "number": "1001",
                                                                          "enabled": "1"}, follow_redirects=False)
    assert pbx_fix.status_code == 303
    r = client.post("/telephony/apply?next=https://evil.example/", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/telephony/apply?msg=")


def test_routes_trunks_pins_through_the_console(client, world, admin, pbx):
    e = pbx.ext("1001", display_name="Trực ban")
    snd = pbx.sound("Chào mừng")
    csrf = login_as(client, "tongdai")
    r = client.post("/telephony/trunks/new", data={"csrf_token": csrf, "name": "Nhà mạng", "kind": "peer",
                                                   "transport": "udp", "port": "5060", "register_interval": "300",
                                                   "caller_id_mode": "extension", "max_channels": "30",
                                                   "allowed_networks": "203.0.113.0/28", "host": "203.0.113.1",
                                                   "enabled": "1"}, follow_redirects=False)
    assert r.status_code == 303, text_of(r)[:800]
    trunks = client.get("/telephony/trunks").text
    assert "Nhà mạng" in trunks and "Chưa rõ" in trunks
    tid = re.search(r'href="/telephony/trunks/([0-9a-f]{32})"', trunks).group(1)

    form = client.get("/telephony/inbound-routes/new").text
    assert f'value="extension:{e}"' in form and "Máy nhánh 1001 – Trực ban" in form and f'value="{snd}"' in form
    r = client.post("/telephony/inbound-routes/new", data={"csrf_token": csrf, "name": "Hotline", "did_pattern": "_10[",
                                                           "destination": f"extension:{e}", "enabled": "1"})
    assert r.status_code == 422 and "thiếu dấu ']'" in text_of(r)
    r = client.post("/telephony/inbound-routes/new", data={
        "csrf_token": csrf, "name": "Hotline", "did_pattern": "1022", "prompt_sound_id": snd,
        "destination": f"extension:{e}", "enabled": "1"}, follow_redirects=False)
    assert r.status_code == 303
    lst = text_of(client.get("/telephony/inbound-routes"))
    assert "Lời chào «Chào mừng» → Máy nhánh 1001 – Trực ban" in lst

    r = client.post("/telephony/pin-sets/new", data={"csrf_token": csrf, "name": "Lãnh đạo", "pins": "1234\n98"})
    assert r.status_code == 422 and "Mã PIN gồm 3–12 chữ số." in r.text
    r = client.post("/telephony/pin-sets/new", data={"csrf_token": csrf, "name": "Lãnh đạo", "pins": "1234\n9876"},
                    follow_redirects=False)
    assert r.status_code == 303 and "2 mã" in client.get("/telephony/pin-sets").text

    r = client.post("/telephony/outbound-routes/new", data={
        "csrf_token": csrf, "name": "Di động", "patterns": "9 | _0[35789]XXXXXXXX |\n| _1XXX |", "trunk_1": tid,
        "enabled": "1"}, follow_redirects=False)
    assert r.status_code == 303, text_of(r)[:800]
    out = text_of(client.get("/telephony/outbound-routes"))
    assert "9|_0[35789]XXXXXXXX|" in out and "Nhà mạng" in out
    r = client.post("/telephony/outbound-routes/new", data={"csrf_token": csrf, "name": "Thiếu trunk",
                                                            "patterns": "_X.", "enabled": "1"})
    assert r.status_code == 422

    r = client.post("/telephony/apply", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, text_of(r)[:800]
    cfg = pbx.applied()
    assert [r.name for r in cfg.inbound_routes] == ["Hotline"] and cfg.outbound_routes[0].patterns[0].prefix == "9"


def test_sound_upload_and_listen(client, world, admin):
    csrf = login_as(client, "tongdai")
    assert 'enctype="multipart/form-data"' in client.get("/telephony/sounds/new").text
    r = client.post("/telephony/sounds/new", data={"csrf_token": csrf, "name": "Lời chào"},
                    files={"file": ("chao.wav", wav_bytes(0.6), "audio/wav")}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "đã chuyển sang WAV 8 kHz" in page
    sid = re.search(r'<audio controls preload="none" src="/telephony/sounds/([0-9a-f]{32})/audio"', page).group(1)
    audio = client.get(f"/telephony/sounds/{sid}/audio")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    r = client.post("/telephony/sounds/new", data={"csrf_token": csrf},
                    files={"file": ("x.txt", b"khong phai am thanh", "text/plain")})
    assert r.status_code == 415 and "WAV hoặc MP3" in r.text
    edit = client.get(f"/telephony/sounds/{sid}").text
    assert f'src="/telephony/sounds/{sid}/audio"' in edit


def test_call_history_and_recording_player(client, world, database):
    root = cdr.recording_dir(world.org_a)
    root.mkdir(parents=True, exist_ok=True)
    (root / "c1.wav").write_bytes(wav_bytes(0.3, 8000, 2))
    with database.session() as s:
        call = cdr.start_call(s, organization_id=world.org_a, direction="inbound", caller="0912345678",
                              called="1022", trunk_name="VNPT")
        cdr.answer(s, call, extension="1001")
        cdr.end_call(s, call, disposition="answered", hangup_by="callee", recording_path=root / "c1.wav")
    world.user("xem", roles=["telephony.calls.read"])
    world.user("nghe", roles=["telephony.recordings"])
    login_as(client, "xem")
    lst = text_of(client.get("/telephony/calls?caller=84912345678"))
    assert "0912345678" in lst and "Đã trả lời" in lst and "Gọi vào" in lst
    assert "Không có cuộc gọi phù hợp." in client.get("/telephony/calls?disposition=busy").text
    detail = client.get(f"/telephony/calls/{call}").text
    assert "<audio" not in detail and "bạn cần quyền" in detail
    assert client.get(f"/telephony/calls/{call}/recording").status_code == 403
    login_as(client, "nghe")
    detail = client.get(f"/telephony/calls/{call}").text
    assert f'<audio controls preload="none" src="/telephony/calls/{call}/recording"' in detail
    r = client.get(f"/telephony/calls/{call}/recording?download=1")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")


def test_system_administrator_switches_organization(client, world, pbx_b):
    pbx_b.ext("2001", display_name="Máy tỉnh B")
    login_as(client, "root")
    assert "Máy tỉnh B" not in client.get(f"/telephony/extensions?organization_id={world.org_a}").text
    assert "Máy tỉnh B" in client.get(f"/telephony/extensions?organization_id={world.org_b}").text
    settings = client.get(f"/telephony/settings?organization_id={world.org_b}").text
    assert 'name="organization_id"' in settings and f'value="{world.org_b}" selected' in settings
