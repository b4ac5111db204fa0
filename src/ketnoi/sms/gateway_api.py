"""Inbound callbacks of SMS gateways (SMS-01, SMS-04): Kannel's MO get-url and dlr-url, and the generic
HTTP provider's signed webhook. Public routes: each is authenticated by its provider's own secret
(Kannel: ``k=<inbound_secret>`` in the URL; HTTP: HMAC-SHA256 signature with a timestamp), stores
through the core (``service.store_incoming`` / ``service.apply_receipt``) and answers at once with an
empty body (Kannel would send a non-empty answer back to the citizen as an SMS).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ketnoi.core.errors import Forbidden, NotFound, ValidationFailed
from ketnoi.sms import service
from ketnoi.sms.models import SmsMessage, SmsPart, SmsProvider
from ketnoi.sms.providers import http as http_provider
from ketnoi.sms.providers import kannel
from ketnoi.sms.providers.base import DeliveryReceipt, IncomingSms
from ketnoi.sms.providers.config import validate_config
from ketnoi.web.deps import DbDep
from ketnoi.web.schemas import PROBLEMS

router = APIRouter(prefix="/api/v1/sms/gateway", tags=["sms-gateway"], responses=PROBLEMS)
NOT_FOUND = "Không tìm thấy nhà cung cấp SMS (hoặc nhà cung cấp đang tắt)."


def _provider(db, provider_id: str, kind: str):
    row = db.get(SmsProvider, provider_id) if len(provider_id) <= 64 else None
    if row is None or row.kind != kind or not row.enabled:
        raise NotFound(NOT_FOUND)
    try:
        return row, validate_config(kind, row.config)
    except ValidationFailed:
        raise NotFound(NOT_FOUND) from None


def _apply_receipt(db, receipt: DeliveryReceipt) -> None:
    """Receipts for the parts of one message arrive concurrently (Kannel calls every part's dlr-url
    at once): lock the message row first, so that each one aggregates the statuses the others have
    committed (under PostgreSQL's read committed, two of them would otherwise each see the other's
    part as still "accepted" and the message would never become "delivered")."""
    mid = db.scalar(select(SmsPart.message_id).where(SmsPart.provider == receipt.provider,
                                                     SmsPart.provider_message_id == receipt.provider_message_id))
    if mid is not None:
        db.execute(select(SmsMessage.id).where(SmsMessage.id == mid).with_for_update())
    service.apply_receipt(db, receipt)


def _empty() -> Response:
    return Response(status_code=200, content=b"", media_type="text/plain")


@router.get("/kannel/{provider_id}/mo", summary="Kannel: tin nhắn đến (get-url của sms-service)",
            response_class=Response, status_code=200)
def kannel_mo(provider_id: str, request: Request, db: DbDep):
    row, settings = _provider(db, provider_id, "kannel")
    q = dict(request.query_params)
    if not kannel.check_secret(settings, q.get("k")):  # type: ignore[arg-type]
        raise Forbidden("Khóa xác thực của Kannel không đúng.")
    try:
        sms = kannel.parse_mo(row.name, q)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    service.store_incoming(db, sms)
    return _empty()


@router.get("/kannel/{provider_id}/dlr", summary="Kannel: báo cáo phát (dlr-url)",
            response_class=Response, status_code=200)
def kannel_dlr(provider_id: str, request: Request, db: DbDep):
    row, settings = _provider(db, provider_id, "kannel")
    q = dict(request.query_params)
    if not kannel.check_secret(settings, q.get("k")):  # type: ignore[arg-type]
        raise Forbidden("Khóa xác thực của Kannel không đúng.")
    try:
        receipt = kannel.parse_dlr(row.name, q)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    if receipt is not None:
        _apply_receipt(db, receipt)
    return _empty()


def _store(request: Request, items: list) -> None:
    with request.app.state.database.session() as s:
        for item in items:
            if isinstance(item, IncomingSms):
                service.store_incoming(s, item)
            elif isinstance(item, DeliveryReceipt):
                _apply_receipt(s, item)


@router.post("/http/{provider_id}", summary="API HTTP: tin nhắn đến và báo cáo phát (webhook có ký HMAC)")
async def http_webhook(provider_id: str, request: Request) -> dict:
    def load():
        with request.app.state.database.session() as s:
            row, settings = _provider(s, provider_id, "http")
            return row.name, settings

    name, settings = await run_in_threadpool(load)
    if not settings.inbound_secret:
        raise Forbidden("Nhà cung cấp này chưa cấu hình khóa nhận webhook (inbound_secret).")
    body = await request.body()
    reason = http_provider.verify(settings.inbound_secret, request.headers.get(settings.timestamp_header),
                                  request.headers.get(settings.signature_header), body, settings.max_skew_seconds)
    if reason:
        raise Forbidden(reason)
    try:
        items = http_provider.parse_webhook(name, settings, body, request.headers.get("content-type", ""))
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    await run_in_threadpool(_store, request, items)
    return {"accepted": len(items)}


for _endpoint in (kannel_mo, kannel_dlr, http_webhook):
    _endpoint.ketnoi_public = True  # type: ignore[attr-defined]
