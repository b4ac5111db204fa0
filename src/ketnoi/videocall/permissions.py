"""Roles (permissions) of videocall."""

from ketnoi.identity.permissions import RoleSpec, register  # noqa: F401

