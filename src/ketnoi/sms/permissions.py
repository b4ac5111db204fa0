"""Roles (permissions) of sms."""

from ketnoi.identity.permissions import RoleSpec, register  # noqa: F401

