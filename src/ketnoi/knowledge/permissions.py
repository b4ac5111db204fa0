"""Roles of the knowledge base (menu 'Thủ tục hành chính')."""

from ketnoi.identity.permissions import RoleSpec, register

register(
    RoleSpec("knowledge", "Thủ tục hành chính", order=30),
    RoleSpec("knowledge.search", "Tra cứu thủ tục hành chính (tab tổng đài)", "knowledge", menu_url="/knowledge",
             order=31),
    RoleSpec("knowledge.read", "Xem cơ sở tri thức", "knowledge", menu_url="/knowledge/admin", order=32),
    RoleSpec("knowledge.write", "Biên tập thủ tục, câu trả lời, sự kiện", "knowledge.read", order=33),
    RoleSpec("knowledge.keys", "Quản lý khóa API đối tác", "knowledge", menu_url="/knowledge/api-keys", order=34),
)
