"""The Janus side (VC-03, 13): configuration written from settings, the process, the API client
against a real Janus, and what a started instance refuses."""

from __future__ import annotations

import asyncio
import json

import pytest

from ketnoi.videocall.janus import JanusClient, JanusConfig, JanusError, JanusProcess, free_port, rtp_slices


def test_config_keeps_secrets_and_addresses_where_they_belong(tmp_path):
    cfg = JanusConfig("j1", 18188, 17188, "api-secret-x", "admin-secret-y", "room-key-z", (20000, 20099),
                      ice_ip="192.0.2.9", rec_root=str(tmp_path / "rec"))
    cfg.write(tmp_path / "conf")
    core = (tmp_path / "conf" / "janus.jcfg").read_text()
    ws = (tmp_path / "conf" / "janus.transport.websockets.jcfg").read_text()
    room = (tmp_path / "conf" / "janus.plugin.videoroom.jcfg").read_text()
    assert 'api_secret = "api-secret-x"' in core and 'admin_secret = "admin-secret-y"' in core
    assert "token_auth = true" in core and 'rtp_port_range = "20000-20099"' in core
    assert 'ice_enforce_list = "192.0.2.9"' in core and "libjanus_http.so" in core
    assert 'ws_ip = "127.0.0.1"' in ws and 'admin_ws_ip = "127.0.0.1"' in ws and "admin_ws = true" in ws
    assert 'admin_key = "room-key-z"' in room
    assert oct((tmp_path / "conf" / "janus.jcfg").stat().st_mode & 0o777) == "0o600"
    # every directory off the way to the recordings is protected; the way itself is not
    protected = cfg.protected_folders()
    assert "/etc" in protected and "/usr" in protected
    assert not any(str(tmp_path).startswith(p + "/") or str(tmp_path) == p for p in protected)


def test_rtp_ranges_are_shared_out():
    assert rtp_slices("20000-20999", 2) == [(20000, 20499), (20500, 20999)]
    with pytest.raises(ValueError):
        rtp_slices("20000-20010", 2)


def test_a_missing_binary_is_reported(tmp_path):
    cfg = JanusConfig("j", free_port(), free_port(), "a", "b", "c")
    with pytest.raises(JanusError, match="not found"):
        JanusProcess(cfg, tmp_path, binary="no-such-janus").start()


def test_client_against_a_real_janus(janus):
    cfg = janus.config

    async def run():
        c = JanusClient("t", cfg.url, cfg.admin_url, cfg.api_secret, cfg.admin_secret, cfg.room_key)
        try:
            info = await c.info()
            assert info["name"] == "Janus WebRTC Server" and list(info["plugins"]) == ["janus.plugin.videoroom"]
            await c.add_token("tok-a")
            made = await c.create_room("call-t", secret="s1", allowed=["tok-a"], rec_dir="/tmp")
            assert made["videoroom"] == "created"
            assert sorted(await c.allow("call-t", "s1", ["tok-b"])) == ["tok-a", "tok-b"]
            with pytest.raises(JanusError) as wrong:
                await c.destroy_room("call-t", "not-the-secret")
            assert wrong.value.code == 433
            assert await c.participants("call-t") == []
            await c.destroy_room("call-t", "s1")
            await c.destroy_room("call-t", "s1")  # already gone: not an error
            bad = JanusClient("t", cfg.url, cfg.admin_url, "wrong", "wrong", "wrong")
            with pytest.raises(JanusError) as e:
                await bad.room_request({"request": "list"})
            assert e.value.code == 403
            with pytest.raises(JanusError):
                await bad.add_token("x")
            await bad.close()
            # the ketnoi session survives Janus dropping it: requests re-create it
            c.session_id = 123
            assert (await c.room_request({"request": "exists", "room": "call-t"}))["exists"] is False
        finally:
            await c.close()

    asyncio.run(run())


def test_clients_need_a_stored_token(janus):
    async def run():
        from websockets.asyncio.client import connect

        async with connect(janus.config.url, subprotocols=["janus-protocol"]) as ws:
            await ws.send(json.dumps({"janus": "create", "transaction": "t1"}))
            return json.loads(await ws.recv())

    reply = asyncio.run(run())
    assert reply["janus"] == "error" and reply["error"]["code"] == 403
