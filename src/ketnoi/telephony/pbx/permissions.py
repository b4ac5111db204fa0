"""Roles (permissions) of telephony/pbx."""

from ketnoi.identity.permissions import RoleSpec, register  # noqa: F401

