"""Roles of the catalog domain (menu entries under 'Danh mục')."""

from ketnoi.identity.permissions import RoleSpec, register

register(
    RoleSpec("catalog", "Danh mục", order=60),
    RoleSpec("catalog.areas.read", "Xem khu vực hành chính", "catalog", menu_url="/catalog/areas", order=61),
    RoleSpec("catalog.areas.write", "Quản lý khu vực hành chính", "catalog.areas.read", order=62),
    RoleSpec("catalog.categories.read", "Xem lĩnh vực", "catalog", menu_url="/catalog/categories", order=63),
    RoleSpec("catalog.categories.write", "Quản lý lĩnh vực", "catalog.categories.read", order=64),
)
