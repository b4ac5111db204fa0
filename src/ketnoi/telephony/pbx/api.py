"""JSON API of the PBX under /api/v1/telephony (API.md conventions): general settings (CC-05),
extensions (CC-06), trunks (CC-09), inbound (CC-10) and outbound (CC-11) routes, PIN sets (CC-14),
sound files (CC-12), staging status / check / apply, and call records with recordings (CC-21)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse

from ketnoi.core.errors import ValidationFailed
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import calls, extensions, routes, service, sounds
from ketnoi.telephony.pbx import config as C
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx.api_objects import Filter, ListQ, ObjectApi, OrgQ, add_object_routes
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, Problem

router = APIRouter(prefix="/api/v1/telephony", responses=PROBLEMS)
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


# --- objects: extensions, trunks, inbound / outbound routes, PIN sets, sounds ------------------------
EXTENSIONS = ObjectApi(
    "/extensions", "extension_id", "telephony.extensions", "extension", "extensions", S.ExtensionOut,
    lambda db, e: extensions.extension_out(e), extensions.get_extension, extensions.list_extensions,
    {"list": "Danh sách máy nhánh (CC-06)", "create": "Thêm máy nhánh (CC-06)", "read": "Chi tiết máy nhánh",
     "update": "Sửa máy nhánh; secret để trống = giữ mật khẩu cũ", "delete": "Xóa máy nhánh"},
    filters=[Filter("enabled", bool | None, None)], create=(S.ExtensionIn, extensions.create_extension),
    update=(S.ExtensionPatch, extensions.update_extension), delete=extensions.delete_extension)
TRUNKS = ObjectApi(
    "/trunks", "trunk_id", "telephony.trunks", "trunk", "trunks", S.TrunkOut,
    lambda db, t: extensions.trunk_out(t), extensions.get_trunk, extensions.list_trunks,
    {"list": "Danh sách trunk SIP (CC-09)",
     "create": "Thêm trunk SIP: đăng ký tới nhà cung cấp hoặc xác thực theo IP (CC-09)",
     "read": "Chi tiết trunk SIP", "update": "Sửa trunk SIP; password để trống = giữ mật khẩu cũ",
     "delete": "Xóa trunk SIP"},
    filters=[Filter("kind", Annotated[str, Query(pattern=r"^(register|peer)?$")], ""),
             Filter("status", Annotated[str, Query(pattern=r"^(registered|reachable|unreachable|rejected|unknown)?$")],
                    ""),
             Filter("enabled", bool | None, None)],
    create=(S.TrunkIn, extensions.create_trunk), update=(S.TrunkPatch, extensions.update_trunk),
    delete=extensions.delete_trunk)
INBOUND = ObjectApi(
    "/inbound-routes", "inbound_route_id", "telephony.inbound", "inbound", "inbound", S.InboundRouteOut,
    routes.inbound_out, routes.get_inbound, routes.list_inbound,
    {"list": "Danh sách tuyến gọi vào (CC-10)",
     "create": "Thêm tuyến gọi vào: mẫu DID, mẫu số gọi → đích đến (CC-10)", "read": "Chi tiết tuyến gọi vào",
     "update": "Sửa tuyến gọi vào", "delete": "Xóa tuyến gọi vào"},
    filters=[Filter("enabled", bool | None, None)], create=(S.InboundRouteIn, routes.create_inbound),
    update=(S.InboundRoutePatch, routes.update_inbound), delete=routes.delete_inbound)
OUTBOUND = ObjectApi(
    "/outbound-routes", "outbound_route_id", "telephony.outbound", "outbound", "outbound", S.OutboundRouteOut,
    lambda db, r: routes.outbound_out(r), routes.get_outbound, routes.list_outbound,
    {"list": "Danh sách tuyến gọi ra theo thứ tự thử (CC-11)",
     "create": "Thêm tuyến gọi ra: mẫu quay số, bỏ/thêm tiền tố, trunk dự phòng, mã PIN (CC-11)",
     "read": "Chi tiết tuyến gọi ra", "update": "Sửa tuyến gọi ra", "delete": "Xóa tuyến gọi ra"},
    filters=[Filter("enabled", bool | None, None)], create=(S.OutboundRouteIn, routes.create_outbound),
    update=(S.OutboundRoutePatch, routes.update_outbound), delete=routes.delete_outbound)
PIN_SETS = ObjectApi(
    "/pin-sets", "pin_set_id", "telephony.pinsets", "pin_set", "pin_sets", S.PinSetOut,
    lambda db, s: S.PinSetOut.model_validate(s), routes.get_pin_set, routes.list_pin_sets,
    {"list": "Bộ mã PIN gọi ra (CC-14)", "create": "Thêm bộ mã PIN (CC-14)", "read": "Chi tiết bộ mã PIN",
     "update": "Sửa bộ mã PIN", "delete": "Xóa bộ mã PIN"},
    create=(S.PinSetIn, routes.create_pin_set), update=(S.PinSetPatch, routes.update_pin_set),
    delete=routes.delete_pin_set)
SOUNDS = ObjectApi(  # created by upload (multipart), below
    "/sounds", "sound_id", "telephony.sounds", "sound", "sounds", S.SoundOut,
    lambda db, s: sounds.sound_out(s), sounds.get_sound, sounds.list_sounds,
    {"list": "Danh sách tệp âm thanh, tìm theo tên (CC-12)", "read": "Chi tiết tệp âm thanh",
     "update": "Đổi tên, mô tả tệp âm thanh (CC-12)", "delete": "Xóa tệp âm thanh (không xóa được khi đang được dùng)"},
    update=(S.SoundPatch, sounds.update_sound), delete=sounds.delete_sound)

for _object in (EXTENSIONS, TRUNKS, INBOUND, OUTBOUND, PIN_SETS, SOUNDS):
    add_object_routes(router, _object)


@router.post("/outbound-routes/{outbound_route_id}/move", response_model=S.OutboundRouteOut, tags=["telephony"],
             summary="Đổi thứ tự tuyến gọi ra (1 = thử trước)")
def move_outbound(outbound_route_id: str, data: S.MoveIn, db: DbDep,
                  p: Principal = requires("telephony.outbound.write")):
    return routes.outbound_out(routes.move_outbound(db, p, outbound_route_id, data.position))


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
