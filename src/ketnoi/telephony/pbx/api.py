"""JSON API of the PBX under /api/v1/telephony (API.md conventions): general settings (CC-05),
extensions (CC-06), trunks (CC-09), inbound (CC-10) and outbound (CC-11) routes, PIN sets (CC-14),
sound files (CC-12), staging status / check / apply, and call records with recordings (CC-21)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from ketnoi.core.errors import ValidationFailed
from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import calls, extensions, routes, service, sounds
from ketnoi.telephony.pbx import config as C
from ketnoi.telephony.pbx import schemas as S
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, Problem, list_query

router = APIRouter(prefix="/api/v1/telephony", responses=PROBLEMS)
ListQ = Annotated[ListParams, list_query()]
OrgQ = Annotated[str, Query(max_length=64, description="Tổ chức (quản trị hệ thống chọn; người khác: của mình)")]
IdQ = Annotated[str, Query(max_length=64)]
NumQ = Annotated[str, Query(max_length=64)]
PROBLEM_JSON = {"application/problem+json": {}}
UPLOAD_PROBLEMS: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "Tệp quá lớn", "content": PROBLEM_JSON},
    415: {"model": Problem, "description": "Kiểu tệp không được hỗ trợ", "content": PROBLEM_JSON},
}
AUDIO = {200: {"content": {"audio/wav": {}}, "description": "Âm thanh WAV; hỗ trợ Range"}}


def _org(db, p: Principal, organization_id: str) -> str:
    return service.org_for_read(db, p, organization_id or None)


# --- settings, status, apply --------------------------------------------------------------------
@router.get("/settings", response_model=S.SettingsOut, tags=["telephony"], summary="Cài đặt chung tổng đài (CC-05)")
def get_settings(db: DbDep, organization_id: OrgQ = "", p: Principal = requires("telephony.settings.read")):
    return service.get_settings_row(db, _org(db, p, organization_id))


@router.patch("/settings", response_model=S.SettingsOut, tags=["telephony"],
              summary="Sửa cài đặt chung: cổng SIP, dải RTP, codec, địa chỉ NAT, ghi âm, ngôn ngữ (CC-05)")
def update_settings(data: S.SettingsPatch, db: DbDep, organization_id: OrgQ = "",
                    p: Principal = requires("telephony.settings.write")):
    return service.update_settings(db, p, _org(db, p, organization_id), data)


@router.get("/status", response_model=S.StatusOut, tags=["telephony"],
            summary="Trạng thái cấu hình: có thay đổi chưa áp dụng hay không")
def get_status(db: DbDep, organization_id: OrgQ = "", p: Principal = requires("telephony.settings.read")):
    return service.status(db, _org(db, p, organization_id))


@router.get("/check", response_model=S.CheckOut, tags=["telephony"],
            summary="Kiểm tra toàn bộ cấu hình mà không áp dụng")
def check(db: DbDep, organization_id: OrgQ = "", p: Principal = requires("telephony.settings.read")):
    errors = service.check(db, _org(db, p, organization_id))
    return S.CheckOut(ok=not errors, errors=errors)


@router.post("/apply", response_model=S.ApplyOut, tags=["telephony"],
             summary="Áp dụng cấu hình: kiểm tra toàn bộ rồi đưa vào tổng đài đang chạy (CC-05…14)")
def apply(db: DbDep, organization_id: OrgQ = "", p: Principal = requires("telephony.apply")):
    st = service.apply(db, p, _org(db, p, organization_id))
    return S.ApplyOut(revision=st.applied_revision, applied_at=st.applied_at,
                      message=f"Đã áp dụng cấu hình tổng đài (phiên bản {st.applied_revision}).")


@router.get("/applied", response_model=dict[str, Any], tags=["telephony"],
            summary="Cấu hình đang chạy (bản đã áp dụng; không kèm mật khẩu)")
def applied(db: DbDep, organization_id: OrgQ = "", p: Principal = requires("telephony.settings.read")):
    cfg = service.load_applied_config(db, _org(db, p, organization_id))
    if cfg is None:
        return {}
    return C.to_dict(cfg, seal=lambda _: "***")


# --- extensions ---------------------------------------------------------------------------------
@router.get("/extensions", response_model=Paged[S.ExtensionOut], tags=["telephony"],
            summary="Danh sách máy nhánh (CC-06)")
def list_extensions(db: DbDep, params: ListQ, organization_id: OrgQ = "", enabled: bool | None = None,
                    p: Principal = requires("telephony.extensions.read")):
    page = extensions.list_extensions(db, p, params, organization_id=organization_id, enabled=enabled)
    return page.as_dict(extensions.extension_out)


@router.post("/extensions", response_model=S.ExtensionOut, status_code=201, tags=["telephony"],
             summary="Thêm máy nhánh (CC-06)")
def create_extension(data: S.ExtensionIn, db: DbDep, p: Principal = requires("telephony.extensions.write")):
    return extensions.extension_out(extensions.create_extension(db, p, data))


@router.get("/extensions/{extension_id}", response_model=S.ExtensionOut, tags=["telephony"],
            summary="Chi tiết máy nhánh")
def get_extension(extension_id: str, db: DbDep, p: Principal = requires("telephony.extensions.read")):
    return extensions.extension_out(extensions.get_extension(db, p, extension_id))


@router.patch("/extensions/{extension_id}", response_model=S.ExtensionOut, tags=["telephony"],
              summary="Sửa máy nhánh; secret để trống = giữ mật khẩu cũ")
def update_extension(extension_id: str, data: S.ExtensionPatch, db: DbDep,
                     p: Principal = requires("telephony.extensions.write")):
    return extensions.extension_out(extensions.update_extension(db, p, extension_id, data))


@router.delete("/extensions/{extension_id}", status_code=204, tags=["telephony"], summary="Xóa máy nhánh")
def delete_extension(extension_id: str, db: DbDep, p: Principal = requires("telephony.extensions.write")):
    extensions.delete_extension(db, p, extension_id)
    return Response(status_code=204)


# --- trunks -------------------------------------------------------------------------------------
@router.get("/trunks", response_model=Paged[S.TrunkOut], tags=["telephony"], summary="Danh sách trunk SIP (CC-09)")
def list_trunks(db: DbDep, params: ListQ, organization_id: OrgQ = "",
                kind: Annotated[str, Query(pattern=r"^(register|peer)?$")] = "",
                status: Annotated[str, Query(pattern=r"^(registered|reachable|unreachable|rejected|unknown)?$")] = "",
                enabled: bool | None = None, p: Principal = requires("telephony.trunks.read")):
    page = extensions.list_trunks(db, p, params, organization_id=organization_id, kind=kind, status=status,
                                  enabled=enabled)
    return page.as_dict(extensions.trunk_out)


@router.post("/trunks", response_model=S.TrunkOut, status_code=201, tags=["telephony"],
             summary="Thêm trunk SIP: đăng ký tới nhà cung cấp hoặc xác thực theo IP (CC-09)")
def create_trunk(data: S.TrunkIn, db: DbDep, p: Principal = requires("telephony.trunks.write")):
    return extensions.trunk_out(extensions.create_trunk(db, p, data))


@router.get("/trunks/{trunk_id}", response_model=S.TrunkOut, tags=["telephony"], summary="Chi tiết trunk SIP")
def get_trunk(trunk_id: str, db: DbDep, p: Principal = requires("telephony.trunks.read")):
    return extensions.trunk_out(extensions.get_trunk(db, p, trunk_id))


@router.patch("/trunks/{trunk_id}", response_model=S.TrunkOut, tags=["telephony"],
              summary="Sửa trunk SIP; password để trống = giữ mật khẩu cũ")
def update_trunk(trunk_id: str, data: S.TrunkPatch, db: DbDep, p: Principal = requires("telephony.trunks.write")):
    return extensions.trunk_out(extensions.update_trunk(db, p, trunk_id, data))


@router.delete("/trunks/{trunk_id}", status_code=204, tags=["telephony"], summary="Xóa trunk SIP")
def delete_trunk(trunk_id: str, db: DbDep, p: Principal = requires("telephony.trunks.write")):
    extensions.delete_trunk(db, p, trunk_id)
    return Response(status_code=204)


# --- inbound routes -----------------------------------------------------------------------------
@router.get("/inbound-routes", response_model=Paged[S.InboundRouteOut], tags=["telephony"],
            summary="Danh sách tuyến gọi vào (CC-10)")
def list_inbound(db: DbDep, params: ListQ, organization_id: OrgQ = "", enabled: bool | None = None,
                 p: Principal = requires("telephony.inbound.read")):
    page = routes.list_inbound(db, p, params, organization_id=organization_id, enabled=enabled)
    return page.as_dict(lambda r: routes.inbound_out(db, r))


@router.post("/inbound-routes", response_model=S.InboundRouteOut, status_code=201, tags=["telephony"],
             summary="Thêm tuyến gọi vào: mẫu DID, mẫu số gọi → đích đến (CC-10)")
def create_inbound(data: S.InboundRouteIn, db: DbDep, p: Principal = requires("telephony.inbound.write")):
    return routes.inbound_out(db, routes.create_inbound(db, p, data))


@router.get("/inbound-routes/{inbound_route_id}", response_model=S.InboundRouteOut, tags=["telephony"],
            summary="Chi tiết tuyến gọi vào")
def get_inbound(inbound_route_id: str, db: DbDep, p: Principal = requires("telephony.inbound.read")):
    return routes.inbound_out(db, routes.get_inbound(db, p, inbound_route_id))


@router.patch("/inbound-routes/{inbound_route_id}", response_model=S.InboundRouteOut, tags=["telephony"],
              summary="Sửa tuyến gọi vào")
def update_inbound(inbound_route_id: str, data: S.InboundRoutePatch, db: DbDep,
                   p: Principal = requires("telephony.inbound.write")):
    return routes.inbound_out(db, routes.update_inbound(db, p, inbound_route_id, data))


@router.delete("/inbound-routes/{inbound_route_id}", status_code=204, tags=["telephony"],
               summary="Xóa tuyến gọi vào")
def delete_inbound(inbound_route_id: str, db: DbDep, p: Principal = requires("telephony.inbound.write")):
    routes.delete_inbound(db, p, inbound_route_id)
    return Response(status_code=204)


# --- outbound routes ----------------------------------------------------------------------------
@router.get("/outbound-routes", response_model=Paged[S.OutboundRouteOut], tags=["telephony"],
            summary="Danh sách tuyến gọi ra theo thứ tự thử (CC-11)")
def list_outbound(db: DbDep, params: ListQ, organization_id: OrgQ = "", enabled: bool | None = None,
                  p: Principal = requires("telephony.outbound.read")):
    page = routes.list_outbound(db, p, params, organization_id=organization_id, enabled=enabled)
    return page.as_dict(routes.outbound_out)


@router.post("/outbound-routes", response_model=S.OutboundRouteOut, status_code=201, tags=["telephony"],
             summary="Thêm tuyến gọi ra: mẫu quay số, bỏ/thêm tiền tố, trunk dự phòng, mã PIN (CC-11)")
def create_outbound(data: S.OutboundRouteIn, db: DbDep, p: Principal = requires("telephony.outbound.write")):
    return routes.outbound_out(routes.create_outbound(db, p, data))


@router.get("/outbound-routes/{outbound_route_id}", response_model=S.OutboundRouteOut, tags=["telephony"],
            summary="Chi tiết tuyến gọi ra")
def get_outbound(outbound_route_id: str, db: DbDep, p: Principal = requires("telephony.outbound.read")):
    return routes.outbound_out(routes.get_outbound(db, p, outbound_route_id))


@router.patch("/outbound-routes/{outbound_route_id}", response_model=S.OutboundRouteOut, tags=["telephony"],
              summary="Sửa tuyến gọi ra")
def update_outbound(outbound_route_id: str, data: S.OutboundRoutePatch, db: DbDep,
                    p: Principal = requires("telephony.outbound.write")):
    return routes.outbound_out(routes.update_outbound(db, p, outbound_route_id, data))


@router.post("/outbound-routes/{outbound_route_id}/move", response_model=S.OutboundRouteOut, tags=["telephony"],
             summary="Đổi thứ tự tuyến gọi ra (1 = thử trước)")
def move_outbound(outbound_route_id: str, data: S.MoveIn, db: DbDep,
                  p: Principal = requires("telephony.outbound.write")):
    return routes.outbound_out(routes.move_outbound(db, p, outbound_route_id, data.position))


@router.delete("/outbound-routes/{outbound_route_id}", status_code=204, tags=["telephony"],
               summary="Xóa tuyến gọi ra")
def delete_outbound(outbound_route_id: str, db: DbDep, p: Principal = requires("telephony.outbound.write")):
    routes.delete_outbound(db, p, outbound_route_id)
    return Response(status_code=204)


# --- PIN sets -----------------------------------------------------------------------------------
@router.get("/pin-sets", response_model=Paged[S.PinSetOut], tags=["telephony"], summary="Bộ mã PIN gọi ra (CC-14)")
def list_pin_sets(db: DbDep, params: ListQ, organization_id: OrgQ = "",
                  p: Principal = requires("telephony.pinsets.read")):
    return routes.list_pin_sets(db, p, params, organization_id=organization_id).as_dict(S.PinSetOut.model_validate)


@router.post("/pin-sets", response_model=S.PinSetOut, status_code=201, tags=["telephony"],
             summary="Thêm bộ mã PIN (CC-14)")
def create_pin_set(data: S.PinSetIn, db: DbDep, p: Principal = requires("telephony.pinsets.write")):
    return routes.create_pin_set(db, p, data)


@router.get("/pin-sets/{pin_set_id}", response_model=S.PinSetOut, tags=["telephony"], summary="Chi tiết bộ mã PIN")
def get_pin_set(pin_set_id: str, db: DbDep, p: Principal = requires("telephony.pinsets.read")):
    return routes.get_pin_set(db, p, pin_set_id)


@router.patch("/pin-sets/{pin_set_id}", response_model=S.PinSetOut, tags=["telephony"], summary="Sửa bộ mã PIN")
def update_pin_set(pin_set_id: str, data: S.PinSetPatch, db: DbDep,
                   p: Principal = requires("telephony.pinsets.write")):
    return routes.update_pin_set(db, p, pin_set_id, data)


@router.delete("/pin-sets/{pin_set_id}", status_code=204, tags=["telephony"], summary="Xóa bộ mã PIN")
def delete_pin_set(pin_set_id: str, db: DbDep, p: Principal = requires("telephony.pinsets.write")):
    routes.delete_pin_set(db, p, pin_set_id)
    return Response(status_code=204)


# --- sound files --------------------------------------------------------------------------------
@router.get("/sounds", response_model=Paged[S.SoundOut], tags=["telephony"],
            summary="Danh sách tệp âm thanh, tìm theo tên (CC-12)")
def list_sounds(db: DbDep, params: ListQ, organization_id: OrgQ = "",
                p: Principal = requires("telephony.sounds.read")):
    return sounds.list_sounds(db, p, params, organization_id=organization_id).as_dict(sounds.sound_out)


@router.post("/sounds", response_model=S.SoundOut, status_code=201, tags=["telephony"], responses=UPLOAD_PROBLEMS,
             summary="Tải lên tệp âm thanh WAV/MP3 (≤ 20 MB, ≤ 10 phút); chuyển thành WAV 8 kHz mono (CC-12)")
async def upload_sound(request: Request, db: DbDep,
                       file: Annotated[UploadFile, File(description="Tệp WAV hoặc MP3")],
                       name: Annotated[str, Form(max_length=100)] = "",
                       description: Annotated[str, Form(max_length=500)] = "",
                       organization_id: Annotated[str, Form(max_length=64)] = "",
                       p: Principal = requires("telephony.sounds.write")):
    content = await file.read(sounds.MAX_BYTES + 1)
    from starlette.concurrency import run_in_threadpool

    s = await run_in_threadpool(sounds.upload, db, p, content, file.filename or "", name=name,
                                description=description, organization_id=organization_id or None,
                                data_dir=request.app.state.settings.data_dir)
    return sounds.sound_out(s)


@router.get("/sounds/{sound_id}", response_model=S.SoundOut, tags=["telephony"], summary="Chi tiết tệp âm thanh")
def get_sound(sound_id: str, db: DbDep, p: Principal = requires("telephony.sounds.read")):
    return sounds.sound_out(sounds.get_sound(db, p, sound_id))


@router.patch("/sounds/{sound_id}", response_model=S.SoundOut, tags=["telephony"],
              summary="Đổi tên, mô tả tệp âm thanh (CC-12)")
def update_sound(sound_id: str, data: S.SoundPatch, db: DbDep, p: Principal = requires("telephony.sounds.write")):
    return sounds.sound_out(sounds.update_sound(db, p, sound_id, data))


@router.delete("/sounds/{sound_id}", status_code=204, tags=["telephony"],
               summary="Xóa tệp âm thanh (không xóa được khi đang được dùng)")
def delete_sound(sound_id: str, db: DbDep, p: Principal = requires("telephony.sounds.write")):
    sounds.delete_sound(db, p, sound_id)
    return Response(status_code=204)


@router.get("/sounds/{sound_id}/audio", response_class=FileResponse, tags=["telephony"], responses=AUDIO,
            summary="Nghe tệp âm thanh (WAV 8 kHz)")
def sound_audio(sound_id: str, request: Request, db: DbDep, p: Principal = requires("telephony.sounds.read")):
    _, path = sounds.audio_file(db, p, sound_id, request.app.state.settings.data_dir)
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "private, max-age=300",
                                                               "X-Content-Type-Options": "nosniff"})


# --- call records -------------------------------------------------------------------------------
def aware(value: datetime | None, tz: ZoneInfo, field: str) -> datetime | None:
    """A time from the client in UTC; without an offset it is read in the platform's zone."""
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed.field(field, "Thời điểm nằm ngoài khoảng cho phép.") from None


@router.get("/calls", response_model=Paged[S.CallOut], tags=["telephony"],
            summary="Lịch sử cuộc gọi: lọc theo thời gian, số gọi, số nhận, kết quả, chiều (CC-21, CRM-08)")
def list_calls(request: Request, db: DbDep, params: ListQ, organization_id: OrgQ = "",
               since: Annotated[datetime | None, Query(description="Từ thời điểm (ISO 8601)")] = None,
               until: Annotated[datetime | None, Query(description="Đến trước thời điểm (ISO 8601)")] = None,
               caller: NumQ = "", called: NumQ = "",
               number: Annotated[str, Query(max_length=64, description="Số gọi hoặc số nhận")] = "",
               disposition: Annotated[str, Query(pattern=r"^(answered|busy|no_answer|failed|cancelled|live)?$")] = "",
               direction: Annotated[str, Query(pattern=r"^(inbound|outbound|internal)?$")] = "",
               extension: NumQ = "", trunk_id: IdQ = "", p: Principal = requires("telephony.calls.read")):
    tz = ZoneInfo(request.app.state.settings.timezone)
    f = calls.CallFilters(organization_id=organization_id, since=aware(since, tz, "since"),
                          until=aware(until, tz, "until"), caller=caller, called=called, number=number,
                          disposition=disposition, direction=direction, extension=extension, trunk_id=trunk_id)
    return calls.list_calls(db, p, params, f).as_dict(calls.call_out)


@router.get("/calls/{call_id}", response_model=S.CallDetailOut, tags=["telephony"],
            summary="Chi tiết cuộc gọi với các chặng và chất lượng RTCP")
def get_call(call_id: str, db: DbDep, p: Principal = requires("telephony.calls.read")):
    return calls.call_detail(calls.get_call(db, p, call_id), p.has("telephony.recordings"))


@router.get("/calls/{call_id}/recording", response_class=FileResponse, tags=["telephony"], responses=AUDIO,
            summary="Nghe hoặc tải ghi âm cuộc gọi (download=true để tải về)")
def call_recording(call_id: str, request: Request, db: DbDep, download: bool = False,
                   p: Principal = requires("telephony.recordings")):
    c, path, media_type = calls.recording_file(db, p, call_id, request.app.state.settings.data_dir)
    tz = ZoneInfo(request.app.state.settings.timezone)
    who = re.sub(r"[^0-9+]", "", c.caller) or "an-danh"
    name = f"ghi-am-{c.started_at.astimezone(tz):%Y%m%d-%H%M%S}-{who}{path.suffix}"
    return FileResponse(path, media_type=media_type, filename=name,
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
