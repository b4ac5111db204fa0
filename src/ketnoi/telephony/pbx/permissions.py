"""Roles of the PBX (menu 'Tổng đài'): read/write per object (CC-05…14), Apply, call records (CC-21)
and listening to recordings. A write role implies its read parent."""

from ketnoi.identity.permissions import RoleSpec, register

register(
    RoleSpec("telephony", "Tổng đài", order=40),
    RoleSpec("telephony.calls.read", "Lịch sử cuộc gọi", "telephony", menu_url="/telephony/calls", order=41),
    RoleSpec("telephony.recordings", "Nghe, tải ghi âm cuộc gọi", "telephony.calls.read", order=42),
    RoleSpec("telephony.extensions.read", "Xem máy nhánh", "telephony", menu_url="/telephony/extensions", order=43),
    RoleSpec("telephony.extensions.write", "Quản lý máy nhánh", "telephony.extensions.read", order=44),
    RoleSpec("telephony.trunks.read", "Xem trunk SIP", "telephony", menu_url="/telephony/trunks", order=45),
    RoleSpec("telephony.trunks.write", "Quản lý trunk SIP", "telephony.trunks.read", order=46),
    RoleSpec("telephony.inbound.read", "Xem tuyến gọi vào", "telephony", menu_url="/telephony/inbound-routes",
             order=47),
    RoleSpec("telephony.inbound.write", "Quản lý tuyến gọi vào", "telephony.inbound.read", order=48),
    RoleSpec("telephony.outbound.read", "Xem tuyến gọi ra", "telephony", menu_url="/telephony/outbound-routes",
             order=49),
    RoleSpec("telephony.outbound.write", "Quản lý tuyến gọi ra", "telephony.outbound.read", order=50),
    RoleSpec("telephony.pinsets.read", "Xem mã PIN gọi ra", "telephony", menu_url="/telephony/pin-sets", order=51),
    RoleSpec("telephony.pinsets.write", "Quản lý mã PIN gọi ra", "telephony.pinsets.read", order=52),
    RoleSpec("telephony.sounds.read", "Xem, nghe tệp âm thanh", "telephony", menu_url="/telephony/sounds", order=53),
    RoleSpec("telephony.sounds.write", "Quản lý tệp âm thanh", "telephony.sounds.read", order=54),
    RoleSpec("telephony.settings.read", "Xem cài đặt chung tổng đài", "telephony", menu_url="/telephony/settings",
             order=55),
    RoleSpec("telephony.settings.write", "Sửa cài đặt chung tổng đài", "telephony.settings.read", order=56),
    RoleSpec("telephony.apply", "Áp dụng cấu hình tổng đài", "telephony.settings.read", order=57),
)
