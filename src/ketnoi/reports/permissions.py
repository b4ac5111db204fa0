"""Roles of the reports domain (menu 'Phản ánh, kiến nghị')."""

from ketnoi.identity.permissions import RoleSpec, register

register(
    RoleSpec("reports", "Phản ánh, kiến nghị", order=10),
    RoleSpec("reports.read", "Xem phản ánh", "reports", menu_url="/reports", order=11),
    RoleSpec("reports.create", "Tiếp nhận, tạo và sửa phản ánh", "reports.read", order=12),
    RoleSpec("reports.coordinate", "Điều phối phản ánh (tổng đài)", "reports.read", order=13),
    RoleSpec("reports.assign", "Phân công xử lý (lãnh đạo đơn vị)", "reports.read", order=14),
    RoleSpec("reports.approve", "Phê duyệt kết quả, đề xuất (lãnh đạo đơn vị)", "reports.read", order=15),
    RoleSpec("reports.process", "Xử lý phản ánh (chuyên viên)", "reports.read", order=16),
    RoleSpec("reports.delete", "Xóa phản ánh", "reports.read", order=17),
    RoleSpec("reports.export", "Xuất Excel danh sách phản ánh", "reports.read", order=18),
    RoleSpec("reports.dashboard", "Thống kê phản ánh", "reports", menu_url="/reports/dashboard", order=19),
    RoleSpec("reports.rules", "Quy tắc điều phối tự động", "reports", menu_url="/reports/dispatch-rules", order=20),
    RoleSpec("reports.sla", "Thời hạn xử lý, lịch làm việc", "reports", menu_url="/reports/sla", order=21),
)
