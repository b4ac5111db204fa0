"""Roles (permissions) of the video-call module (menu 'Gọi video', VC-01…28)."""

from ketnoi.identity.permissions import RoleSpec, register

register(
    RoleSpec("videocall", "Gọi video", order=40),
    RoleSpec("videocall.answer", "Trực cuộc gọi video (nhận cuộc gọi)", "videocall", menu_url="/videocall/agent",
             order=41),
    RoleSpec("videocall.call", "Gọi video đến tổng đài bằng tài khoản của mình", "videocall",
             menu_url="/videocall/caller", order=42),
    RoleSpec("videocall.read", "Xem cuộc gọi video, dòng thời gian, chất lượng", "videocall",
             menu_url="/videocall/calls", order=43),
    RoleSpec("videocall.recordings", "Tải bản ghi cuộc gọi video", "videocall.read", order=44),
    # menu entries are the direct children of "videocall" (web/pages.menu_for), so the monitor and the reports
    # hang from it; holding them does not imply videocall.read (grant both to open the calls too)
    RoleSpec("videocall.monitor", "Giám sát và kết thúc cuộc gọi video đang diễn ra", "videocall",
             menu_url="/videocall/monitor", order=45),
    RoleSpec("videocall.reports", "Báo cáo gọi video (VC-20…23, 25, 26)", "videocall", menu_url="/videocall/reports",
             order=46),
    RoleSpec("videocall.config", "Cấu hình tổng đài video: hotline, hàng đợi, nhóm, điều phối viên", "videocall",
             menu_url="/videocall/admin", order=47),
    RoleSpec("videocall.partners", "Quản lý ứng dụng đối tác và khóa API gọi video", "videocall",
             menu_url="/videocall/admin/partners", order=48),
)
