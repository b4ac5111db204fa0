"""Provider registry (SMS-08): failover order by brandname, default and priority; reload that keeps
unchanged providers and lets a replaced one finish its in-flight sends; kind-specific settings
validated with Vietnamese messages; real SMPP providers swapped against the test SMSC."""

from __future__ import annotations

import asyncio

import pytest

from ketnoi.core.errors import ValidationFailed
from ketnoi.sms.providers.base import OutgoingSms, ProviderConfig, SubmitResult
from ketnoi.sms.providers.registry import CONFIG_SCHEMAS, ProviderSet, build_provider, order_candidates


def cfg(name, brandnames=(), default=False, priority=100, enabled=True, config=None):
    return ProviderConfig(id=f"id-{name}", name=name, kind="http", config=config or {"url": "http://x.example/s"},
                          brandnames=tuple(brandnames), is_default=default, priority=priority, enabled=enabled)


def test_failover_order():
    configs = [cfg("any-b", priority=20), cfg("any-a", priority=20), cfg("default", default=True, priority=50),
               cfg("hn-2", ["UBND-HN"], priority=10), cfg("hn-1", ["ubnd-hn", "1022"], priority=5),
               cfg("hcm", ["UBND-HCM"]), cfg("off", ["UBND-HN"], enabled=False)]
    assert [c.name for c in order_candidates(configs, "UBND-HN")] == ["hn-1", "hn-2", "default", "any-a", "any-b"]
    assert [c.name for c in order_candidates(configs, "1022")] == ["hn-1", "default", "any-a", "any-b"]
    assert [c.name for c in order_candidates(configs, "KHAC")] == ["default", "any-a", "any-b"]


class Slow:
    """A provider whose sends wait for ``release``; stop() waits for them (as the real ones do)."""

    def __init__(self, c: ProviderConfig, log: list):
        self.name, self.cfg, self.log = c.name, c, log
        self.release = asyncio.Event()
        self.inflight = 0
        self.stopped = False

    async def start(self, sink):
        self.log.append(("start", self.name, self.cfg.priority))

    async def stop(self):
        while self.inflight:
            await asyncio.sleep(0.01)
        self.stopped = True
        self.log.append(("stop", self.name, self.cfg.priority))

    async def send(self, sms):
        self.inflight += 1
        await self.release.wait()
        self.inflight -= 1
        return SubmitResult([sms.message_id], 1, "gsm7")

    def status(self):
        return {"state": "ready", "in_flight": self.inflight}


async def test_reload_keeps_unchanged_and_drains_replaced_providers():
    log: list = []
    made: dict[str, Slow] = {}

    def factory(c):
        made[c.name] = Slow(c, log)
        return made[c.name]

    ps = ProviderSet([cfg("a"), cfg("b", priority=1)], factory=factory)
    await ps.start(sink=None)
    old_b, a = made["b"], made["a"]
    sending = asyncio.create_task(old_b.send(OutgoingSms("m-1", "+84901234567", "x", "1022")))
    await asyncio.sleep(0.05)
    await ps.reload([cfg("a"), cfg("b", priority=2), cfg("c", enabled=False)])
    assert ps.get("a") is a and ps.get("b") is made["b"] is not old_b
    assert [p.name for p in ps.candidates("1022")] == ["b", "a"]
    await asyncio.sleep(0.05)
    assert not old_b.stopped  # still finishing its send
    old_b.release.set()
    assert (await sending).provider_message_ids == ["m-1"]
    for _ in range(100):
        if old_b.stopped:
            break
        await asyncio.sleep(0.01)
    assert old_b.stopped and ("start", "b", 2) in log
    status = ps.status()
    assert status["c"]["state"] == "disabled" and status["a"]["state"] == "ready"
    await ps.reload([cfg("a")])
    assert ps.get("b") is None and "b" not in ps.status()
    made["b"].release.set()
    await ps.stop()
    assert a.stopped


async def test_a_provider_that_fails_to_start_does_not_stop_the_others():
    def factory(c):
        if c.name == "bad":
            raise ValidationFailed("Cấu hình sai")
        return Slow(c, [])

    ps = ProviderSet([cfg("bad"), cfg("good")], factory=factory)
    await ps.start(sink=None)
    assert [p.name for p in ps.candidates("x")] == ["good"]
    assert ps.status()["bad"] == {**ps.status()["bad"], "state": "error", "error": "Cấu hình sai"}
    await ps.stop()


def test_settings_are_validated_in_vietnamese():
    assert set(CONFIG_SCHEMAS) == {"smpp", "kannel", "http"}
    with pytest.raises(ValidationFailed) as exc:
        build_provider(ProviderConfig(id="1", name="s", kind="smpp",
                                      config={"host": "", "port": 70000, "reconnect_min": 5, "reconnect_max": 1}))
    fields = {e["field"]: e["message"] for e in exc.value.errors}
    assert fields == {"config.host": "Không được để trống.", "config.port": "Phải nhỏ hơn hoặc bằng 65535.",
                      "config.system_id": "Bắt buộc nhập."}
    with pytest.raises(ValidationFailed) as exc:
        build_provider(ProviderConfig(id="1", name="s", kind="smpp", config={
            "host": "h", "system_id": "x", "reconnect_min": 5, "reconnect_max": 1}))
    assert "tối đa phải lớn hơn hoặc bằng tối thiểu" in exc.value.detail
    with pytest.raises(ValidationFailed) as exc:
        build_provider(ProviderConfig(id="1", name="h", kind="http", config={"url": "ftp://x", "bogus": 1}))
    assert {e["field"] for e in exc.value.errors} == {"config.url", "config.bogus"}
    assert "http://" in exc.value.detail and "Trường không được hỗ trợ." in exc.value.detail


async def test_real_smpp_provider_swapped_by_reload(smsc, sink):
    base = {"host": "127.0.0.1", "port": smsc.port, "system_id": "ketnoi", "password": "secret",
            "reconnect_min": 0.05, "reconnect_max": 0.2}
    c1 = ProviderConfig(id="s", name="smpp", kind="smpp", config={**base, "window": 2})
    ps = ProviderSet([c1])
    await ps.start(sink)
    try:
        first = ps.get("smpp")
        for _ in range(200):
            if first.status()["state"] == "bound":
                break
            await asyncio.sleep(0.02)
        sends = [asyncio.create_task(first.send(OutgoingSms(f"m{i}", f"+849000000{i:02d}", "x", "1022")))
                 for i in range(10)]
        await ps.reload([ProviderConfig(id="s", name="smpp", kind="smpp", config={**base, "window": 4})])
        assert ps.get("smpp") is not first
        results = await asyncio.gather(*sends)
        assert len({r.provider_message_ids[0] for r in results}) == 10
        (second,) = ps.candidates("1022")
        for _ in range(200):
            if second.status()["state"] == "bound":
                break
            await asyncio.sleep(0.02)
        await second.send(OutgoingSms("m-new", "+84900000099", "x", "1022"))
        assert sorted(s.dest for s in smsc.accepted) == sorted([f"849000000{i:02d}" for i in range(10)]
                                                                + ["84900000099"])
    finally:
        await ps.stop()
