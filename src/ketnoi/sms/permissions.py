"""Roles of the SMS channel (menu 'Tin nhắn SMS'): inbox (SMS-01, 03, CRM-06), sending (SMS-02, 04),
history (SMS-05…07, 09, CRM-09) and configuration."""

from ketnoi.identity.permissions import RoleSpec, register

register(
    RoleSpec("sms", "Tin nhắn SMS", order=30),
    RoleSpec("sms.inbox", "Hộp thư SMS đến", "sms", menu_url="/sms/inbox", order=31,
             description="Xem tin nhắn đến theo số điện thoại, tạo phản ánh từ tin nhắn."),
    RoleSpec("sms.send", "Gửi SMS, trả lời tin nhắn", "sms", menu_url="/sms/send", order=32),
    RoleSpec("sms.history", "Lịch sử SMS", "sms", menu_url="/sms/history", order=33,
             description="Tra cứu, lọc và xuất Excel nhật ký tin nhắn đến và đi."),
    RoleSpec("sms.admin", "Cấu hình SMS: nhà cung cấp, mẫu tin, từ khóa", "sms", menu_url="/sms/providers",
             order=34),
)
