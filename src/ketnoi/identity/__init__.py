"""Identity: organizations, departments, users, login sessions, roles and permission groups (PERM-*)."""
