"""Domain errors, raised by services and turned into RFC 9457 problem responses by the web layer."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Yêu cầu không hợp lệ"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(DomainError):
    status = 422
    title = "Dữ liệu không hợp lệ"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(message, [{"field": field, "message": message}])


class NotAuthenticated(DomainError):
    status = 401
    title = "Chưa đăng nhập"


class Forbidden(DomainError):
    status = 403
    title = "Không có quyền"


class NotFound(DomainError):
    status = 404
    title = "Không tìm thấy"


class Conflict(DomainError):
    status = 409
    title = "Xung đột dữ liệu"


class RateLimited(DomainError):
    status = 429
    title = "Quá nhiều yêu cầu"

    def __init__(self, detail: str, retry_after: int = 60):
        super().__init__(detail)
        self.retry_after = retry_after
