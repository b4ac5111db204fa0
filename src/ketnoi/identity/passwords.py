"""Password hashing (argon2id) and the password policy (PERM-03)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ketnoi.settings import get_settings


@lru_cache
def _hasher() -> PasswordHasher:
    s = get_settings()
    return PasswordHasher(time_cost=s.argon2_time_cost, memory_cost=s.argon2_memory_kib, parallelism=2)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# Verified when the username does not exist, so that timing does not reveal which accounts exist.
_DUMMY: list[str] = []


def dummy_verify(password: str) -> None:
    if not _DUMMY:
        _DUMMY.append(hash_password("không-có-tài-khoản-này"))
    verify_password(_DUMMY[0], password)


def policy_errors(password: str, username: str = "", full_name: str = "") -> list[str]:
    """Every rule the password breaks, as Vietnamese messages (empty list = acceptable)."""
    s = get_settings()
    errors: list[str] = []
    if len(password) < s.password_min_length:
        errors.append(f"Mật khẩu phải có ít nhất {s.password_min_length} ký tự.")
    if len(password) > 128:
        errors.append("Mật khẩu không được dài quá 128 ký tự.")
    missing = []
    if not any(c.islower() for c in password):
        missing.append("chữ thường")
    if not any(c.isupper() for c in password):
        missing.append("chữ hoa")
    if not any(c.isdigit() for c in password):
        missing.append("chữ số")
    if not any(not c.isalnum() and not c.isspace() for c in password):
        missing.append("ký tự đặc biệt")
    if missing:
        errors.append("Mật khẩu cần có ít nhất một " + ", một ".join(missing) + ".")
    low = password.lower()
    if username and len(username) >= 3 and username.lower() in low:
        errors.append("Mật khẩu không được chứa tên đăng nhập.")
    for part in (full_name or "").lower().split():
        if len(part) >= 4 and part in low:
            errors.append("Mật khẩu không được chứa họ tên của bạn.")
            break
    return errors
