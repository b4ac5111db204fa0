"""Kannel provider: sends through smsbox's ``sendsms`` HTTP interface and reads the MO and DLR
callbacks Kannel makes to ketnoi (SMS-01, SMS-02, SMS-04).

Sending. The text is split here (``encoding.encode``) and every part goes as its own sendsms call
with ``udh`` (concatenation IE, reference derived from the message id) and, for UCS-2, ``coding=2``
with ``charset=UTF-8`` (Kannel converts to UCS-2); each part carries its own ``dlr-url``, so every
part gets its own id ``<message id>.<part>`` and its own receipts.

Callbacks (authenticated by the provider's ``inbound_secret`` in the URL: Kannel cannot sign a
request; compare in constant time):

* dlr-url (per part, built here): ``…/api/v1/sms/gateway/kannel/<provider id>/dlr?k=<secret>&id=<id>
  &s=%d&a=%A&t=%T`` — ``%d`` is the DLR type: 1 delivered, 2 failed, 4 buffered, 8 accepted by the
  SMSC, 16 rejected by the SMSC; ``%A`` the SMSC's receipt text (``stat:EXPIRED`` → expired).
* get-url of the operator's ``sms-service`` (see ``mo_get_url``): ``…/mo?k=<secret>&id=%I&from=%p
  &to=%P&text=%a&coding=%c&charset=%C&t=%T``. smsbox must run with ``mo-recode = true`` so that a
  UCS-2 message arrives as UTF-8 (raw UCS-2 would put NUL octets in the URL, which ketnoi refuses),
  and the service with ``max-messages = 0`` (the HTTP answer is not sent back as an SMS). Kannel
  joins concatenated MO itself (bearerbox ``sms-combine-concatenated-mo``, on by default).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from ketnoi.sms.providers.base import (
    DeliveryReceipt,
    IncomingSms,
    OutgoingSms,
    PermanentFailure,
    ProviderConfig,
    SubmitResult,
    TemporaryFailure,
)
from ketnoi.sms.providers.common import HttpPeerProvider, encode_or_refuse
from ketnoi.sms.providers.config import KannelConfig
from ketnoi.sms.providers.encoding import reference_for

GATEWAY_PREFIX = "/api/v1/sms/gateway/kannel"
DLR_TYPES = {1: "delivered", 2: "failed", 4: "accepted", 8: "accepted", 16: "failed"}


def check_secret(settings: KannelConfig, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), settings.inbound_secret.encode())


def mo_get_url(provider_id: str, settings: KannelConfig) -> str:
    """The ``get-url`` to put in Kannel's ``sms-service`` group for incoming messages."""
    return mo_get_url_for(settings.callback_base_url, provider_id, quote(settings.inbound_secret, safe=""))


def mo_get_url_for(callback_base_url: str, provider_id: str, secret: str) -> str:
    """``mo_get_url`` from its parts; ``secret`` as it goes in the URL (the console shows a
    placeholder: the inbound secret is write-only)."""
    base = f"{callback_base_url}{GATEWAY_PREFIX}/{quote(provider_id, safe='')}/mo"
    return f"{base}?k={secret}&id=%I&from=%p&to=%P&text=%a&coding=%c&charset=%C&t=%T"


def dlr_url(provider_id: str, settings: KannelConfig, part_id: str) -> str:
    base = f"{settings.callback_base_url}{GATEWAY_PREFIX}/{quote(provider_id, safe='')}/dlr"
    return (f"{base}?k={quote(settings.inbound_secret, safe='')}&id={quote(part_id, safe='')}"
            "&s=%d&a=%A&t=%T")


def _time(value: str | None) -> datetime | None:
    if value and value.isdigit():
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def parse_mo(provider: str, q: dict[str, str]) -> IncomingSms:
    """An incoming message from the get-url query. Raises ValueError when a field is missing."""
    mid, sender, to = (q.get(k, "").strip() for k in ("id", "from", "to"))
    if not mid or not sender:
        raise ValueError("Thiếu id hoặc số gửi (from).")
    text = q.get("text", "")
    if q.get("coding") == "2" and (q.get("charset") or "").upper().startswith("UTF-16"):
        raise ValueError("Tin UCS-2 chưa được đổi sang UTF-8: bật mo-recode = true trong nhóm smsbox của Kannel.")
    return IncomingSms(provider, mid[:100], sender[:32], to[:32], text, _time(q.get("t")) or datetime.now(UTC))


def parse_dlr(provider: str, q: dict[str, str]) -> DeliveryReceipt | None:
    """A delivery receipt from the dlr-url query; None for intermediate reports (buffered, accepted)
    — the sendsms answer already meant "accepted", and they may arrive after the final one."""
    pid = q.get("id", "").strip()
    try:
        kind = int(q.get("s", ""))
    except ValueError:
        raise ValueError("Loại báo cáo phát (s) không hợp lệ.") from None
    if not pid or kind not in DLR_TYPES:
        raise ValueError("Thiếu id hoặc loại báo cáo phát không hợp lệ.")
    status = DLR_TYPES[kind]
    if status == "accepted":
        return None
    answer = q.get("a", "")
    if status == "failed" and "STAT:EXPIRED" in answer.upper().replace(" ", ""):
        status = "expired"
    error = None if status == "delivered" else (answer.strip()[:200] or f"Kannel DLR {kind}")
    return DeliveryReceipt(provider, pid, status, error, _time(q.get("t")))  # type: ignore[arg-type]


class KannelProvider(HttpPeerProvider):
    # Kannel reports to the gateway endpoints, which store through the core directly.
    label = "Kannel"
    counter_names = ("submitted", "parts", "failed")

    def __init__(self, cfg: ProviderConfig, settings: KannelConfig):
        super().__init__(cfg, settings)

    async def send(self, sms: OutgoingSms) -> SubmitResult:
        self._check_running()
        enc = encode_or_refuse(sms.text, reference=reference_for(sms.message_id), max_parts=self.settings.max_parts,
                               force_ucs2=self.settings.force_ucs2)
        with self._sends.sending():
            ids = []
            for i in range(enc.parts):
                part_id = f"{sms.message_id}.{i + 1}" if enc.parts > 1 else sms.message_id
                await self._submit(sms, enc, i, part_id)
                ids.append(part_id)
            self.counters["submitted"] += 1
            return SubmitResult(ids, enc.parts, enc.encoding)

    async def _submit(self, sms: OutgoingSms, enc, i: int, part_id: str) -> None:
        s = self.settings
        params: dict[str, str | bytes] = {
            "username": s.username, "password": s.password, "from": sms.sender, "to": sms.to.lstrip("+"),
            "text": enc.texts[i], "charset": "UTF-8", "coding": "2" if enc.encoding == "ucs2" else "0"}
        if enc.udhs[i]:
            params["udh"] = enc.udhs[i]  # binary: each octet %-encoded as is
        if s.smsc_id:
            params["smsc"] = s.smsc_id
        if sms.want_receipt and s.dlr_mask:
            params["dlr-mask"] = str(s.dlr_mask)
            params["dlr-url"] = dlr_url(self.config.id, s, part_id)
        query = "&".join(f"{k}={quote(v if isinstance(v, bytes) else v.encode(), safe='')}"
                         for k, v in params.items())
        url = s.sendsms_url + ("&" if "?" in s.sendsms_url else "?") + query
        async with self._window:
            try:
                r = await self._client.get(url)  # type: ignore[union-attr]
            except httpx.HTTPError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise TemporaryFailure(f"Không gọi được Kannel sendsms: {self.last_error}", "unreachable") from None
        body = r.text.strip()[:200]
        if r.status_code in (200, 202):  # "0: Accepted for delivery" / "3: Queued for later delivery"
            self.last_error = None
            self.counters["parts"] += 1
            return
        self.last_error = f"HTTP {r.status_code}: {body}"
        # 4xx: wrong account / parameters (permanent); 503 and 5xx: Kannel queue full or down (retry).
        if r.status_code in (400, 401, 403, 404, 405):
            raise PermanentFailure(f"Kannel từ chối: {self.last_error}", f"http_{r.status_code}")
        raise TemporaryFailure(f"Kannel tạm thời không nhận: {self.last_error}", f"http_{r.status_code}")
