"""Generic HTTP provider (SMS-02, SMS-04): signed JSON/form requests to a real HTTP server on loopback
standing in for a carrier's API, error mapping, and the signed inbound webhook (SMS-01)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from ketnoi.sms import config as sms_config
from ketnoi.sms import schemas as S
from ketnoi.sms.models import SmsMessage, SmsUnmatchedReceipt
from ketnoi.sms.providers import http as hp
from ketnoi.sms.providers.base import OutgoingSms, PermanentFailure, ProviderConfig, TemporaryFailure
from ketnoi.sms.providers.registry import build_provider
from tests.factory import SYSTEM

SIGN = "s" * 32
INBOUND = "i" * 32


class Carrier:
    """A carrier API on 127.0.0.1: records requests, answers ``reply`` (status, JSON body)."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.reply: tuple[int, object] = (200, {"data": {"messages": [{"id": "c-1"}]}, "status": "ok"})
        carrier = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                carrier.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, payload = carrier.reply
                out = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def carrier():
    c = Carrier()
    yield c
    c.close()


async def started(url: str, sink, **over):
    cfg = {"url": url, "signing_secret": SIGN, "to_field": "msisdn", "text_field": "content",
           "sender_field": "brandname", "response_id_path": "data.messages.0.id", "response_ok_path": "status",
           "headers": {"Authorization": "Bearer key-1"}, "extra_fields": {"campaign": "ketnoi"}, **over}
    p = build_provider(ProviderConfig(id="h1", name="http-1", kind="http", config=cfg))
    await p.start(sink)
    return p


OUT = OutgoingSms(message_id="m-1", to="+84901234567", text="Phản ánh đã được tiếp nhận", sender="UBND-HN")


async def test_signed_json_request_with_configured_fields(carrier, sink):
    p = await started(carrier.url, sink)
    try:
        result = await p.send(OUT)
    finally:
        await p.stop()
    assert result.provider_message_ids == ["c-1"] and (result.parts, result.encoding) == (1, "ucs2")
    (headers, body), = carrier.requests
    assert json.loads(body) == {"campaign": "ketnoi", "msisdn": "84901234567", "content": OUT.text,
                                "brandname": "UBND-HN", "client_ref": "m-1"}
    assert headers["authorization"] == "Bearer key-1" and headers["content-type"].startswith("application/json")
    assert hp.verify(SIGN, headers["x-timestamp"], headers["x-signature"], body, 300) is None
    assert hp.verify(SIGN, headers["x-timestamp"], headers["x-signature"], body + b" ", 300) == "Chữ ký không đúng."


async def test_form_request_and_national_numbers(carrier, sink):
    carrier.reply = (200, {"id": 42})
    p = await started(carrier.url, sink, format="form", phone_format="national", response_id_path="id",
                      response_ok_path=None, receipt_field="dlr")
    try:
        result = await p.send(OUT)
    finally:
        await p.stop()
    (_headers, body), = carrier.requests
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert form["msisdn"] == "0901234567" and form["content"] == OUT.text and form["dlr"] == "true"
    assert result.provider_message_ids == ["42"]


@pytest.mark.parametrize(("status", "payload", "error", "code"), [
    (429, {"error": "rate"}, TemporaryFailure, "http_429"),
    (503, {}, TemporaryFailure, "http_503"),
    (400, {"error": "bad msisdn"}, PermanentFailure, "http_400"),
    (200, {"status": "error", "message": "brandname not registered"}, PermanentFailure, "rejected"),
])
async def test_errors_are_temporary_or_permanent(carrier, sink, status, payload, error, code):
    carrier.reply = (status, payload)
    p = await started(carrier.url, sink)
    try:
        with pytest.raises(error) as exc:
            await p.send(OUT)
    finally:
        await p.stop()
    assert exc.value.code == code


async def test_unreachable_api_is_a_temporary_failure(sink):
    p = await started("http://127.0.0.1:9/v1/sms", sink, timeout=1)
    try:
        with pytest.raises(TemporaryFailure) as exc:
            await p.send(OUT)
    finally:
        await p.stop()
    assert exc.value.code == "unreachable"


def test_verify_rejects_stale_and_missing_signatures():
    body = b'{"a":1}'
    ts = str(int(time.time()))
    good = hp.sign(INBOUND, ts, body)
    assert hp.verify(INBOUND, ts, good, body, 300) is None
    assert hp.verify(INBOUND, ts, good.removeprefix("sha256="), body, 300) is None
    assert hp.verify(INBOUND, ts, good, body, 300, now=time.time() + 301) == \
        "Yêu cầu đã quá hạn (thời điểm ký lệch quá nhiều)."
    assert hp.verify(INBOUND, None, good, body, 300) == "Thiếu chữ ký hoặc thời điểm ký."
    assert hp.verify(INBOUND, "abc", good, body, 300) == "Thời điểm ký không hợp lệ."


# --- webhook --------------------------------------------------------------------------------------
@pytest.fixture
def http_id(database, world):
    with database.session() as s:
        return sms_config.create_provider(s, SYSTEM, S.ProviderIn(
            name="http-1", kind="http", organization_id=world.org_a,
            config={"url": "http://127.0.0.1:9/send", "inbound_secret": INBOUND})).id


def post(client, pid: str, payload, *, secret: str = INBOUND, ts: str | None = None, form: bool = False):
    body = (payload if isinstance(payload, bytes) else
            (json.dumps(payload).encode() if not form else payload.encode()))
    ts = ts or str(int(time.time()))
    headers = {"X-Timestamp": ts, "X-Signature": hp.sign(secret, ts, body),
               "Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
    return client.post(f"/api/v1/sms/gateway/http/{pid}", content=body, headers=headers)


def test_signed_webhook_stores_incoming_and_receipts(client, http_id, database):
    r = post(client, http_id, {"type": "mo", "id": "in-1", "from": "0912345678", "to": "1022",
                               "text": "PA cây đổ chắn đường"})
    assert r.status_code == 200 and r.json() == {"accepted": 1}
    r = post(client, http_id, [{"type": "dlr", "id": "c-9", "status": "DELIVERED"},
                               {"type": "dlr", "id": "c-10", "status": "undeliverable", "error": "absent"}])
    assert r.json() == {"accepted": 2}
    r = post(client, http_id, "type=mo&id=in-2&from=0912345678&to=1022&text=Xin+ch%C3%A0o", form=True)
    assert r.status_code == 200
    with database.session() as s:
        texts = sorted(m.text for m in s.scalars(select(SmsMessage).where(SmsMessage.direction == "in")))
        receipts = {u.provider_message_id: (u.status, u.error) for u in s.scalars(select(SmsUnmatchedReceipt))}
    assert texts == ["PA cây đổ chắn đường", "Xin chào"]
    assert receipts == {"c-9": ("delivered", ""), "c-10": ("failed", "absent")}


def test_webhook_refuses_bad_signature_stale_time_and_bad_content(client, http_id):
    ok = {"type": "mo", "id": "x", "from": "0912345678", "text": "a"}
    assert post(client, http_id, ok, secret="w" * 32).status_code == 403
    r = post(client, http_id, ok, ts=str(int(time.time()) - 3600))
    assert r.status_code == 403 and "quá hạn" in r.json()["detail"]
    assert client.post(f"/api/v1/sms/gateway/http/{http_id}", json=ok).status_code == 403
    r = post(client, http_id, {"type": "dlr", "id": "x", "status": "weird"})
    assert r.status_code == 422 and "Trạng thái không xác định" in r.json()["detail"]
    assert post(client, http_id, b"{not json").status_code == 422
    assert post(client, "khong-co", ok).status_code == 404
