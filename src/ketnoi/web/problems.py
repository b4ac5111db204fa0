"""RFC 9457 problem responses with Vietnamese text (API.md), for every error a client can cause."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ketnoi.core.errors import DomainError, NotAuthenticated, RateLimited

log = logging.getLogger(__name__)

HTTP_TITLES = {
    400: "Yêu cầu không hợp lệ",
    401: "Chưa đăng nhập",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    409: "Xung đột dữ liệu",
    413: "Dữ liệu gửi lên quá lớn",
    415: "Kiểu dữ liệu không được hỗ trợ",
    422: "Dữ liệu không hợp lệ",
    429: "Quá nhiều yêu cầu",
    500: "Lỗi hệ thống",
    503: "Dịch vụ tạm thời không sẵn sàng",
}

FIELD_NAMES = {
    "body": "dữ liệu gửi lên",
}


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None, title: str = "",
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTP_TITLES.get(status, "Lỗi"),
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _vi_message(err: dict[str, Any]) -> str:
    t = err.get("type", "")
    ctx = err.get("ctx") or {}
    if t == "missing":
        return "Bắt buộc nhập."
    if t in ("string_too_short",):
        return "Không được để trống." if ctx.get("min_length", 1) <= 1 else f"Cần ít nhất {ctx.get('min_length')} ký tự."
    if t == "string_too_long":
        return f"Tối đa {ctx.get('max_length')} ký tự."
    if t == "string_pattern_mismatch":
        return "Sai định dạng (chỉ dùng chữ không dấu, chữ số và . _ -)."
    if t in ("string_type", "str_type"):
        return "Phải là chuỗi ký tự."
    if t.startswith("int") or t == "int_parsing":
        return "Phải là số nguyên."
    if t.startswith("float") or t == "decimal_parsing":
        return "Phải là số."
    if t.startswith("bool"):
        return "Phải là đúng/sai (true/false)."
    if t in ("greater_than_equal", "greater_than"):
        return f"Phải lớn hơn hoặc bằng {ctx.get('ge', ctx.get('gt'))}."
    if t in ("less_than_equal", "less_than"):
        return f"Phải nhỏ hơn hoặc bằng {ctx.get('le', ctx.get('lt'))}."
    if t in ("too_long",):
        return f"Tối đa {ctx.get('max_length')} phần tử."
    if t in ("list_type",):
        return "Phải là danh sách."
    if t in ("dict_type", "model_type", "model_attributes_type"):
        return "Phải là một đối tượng JSON."
    if t in ("json_invalid",):
        return "JSON không hợp lệ."
    if t.startswith("datetime") or t.startswith("date"):
        return "Ngày giờ không hợp lệ (ISO 8601, ví dụ 2026-11-22T08:00:00+07:00)."
    if t in ("literal_error", "enum"):
        return "Giá trị không nằm trong danh sách cho phép."
    if t == "extra_forbidden":
        return "Trường không được hỗ trợ."
    if t == "value_error":
        return str(ctx.get("error") or "Giá trị không hợp lệ.")
    return "Giá trị không hợp lệ."


def validation_errors(exc_errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for e in exc_errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "header", "cookie")]
        out.append({"field": ".".join(loc) or FIELD_NAMES["body"], "message": _vi_message(e)})
    return out


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


class LoginRequired(Exception):
    """Raised by console dependencies: the browser goes to the login page."""

    def __init__(self, next_url: str = "/", ended_session: str = ""):
        self.next_url = next_url
        self.ended_session = ended_session


class MustChangePassword(Exception):
    """Raised by console dependencies while a password change is pending."""


def install(app: FastAPI) -> None:
    from ketnoi.web.pages import render_error  # late: pages import templates

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        from urllib.parse import urlencode

        q = {"next": exc.next_url}
        if exc.ended_session:
            q["ended"] = exc.ended_session
        if request.headers.get("HX-Request"):
            from fastapi.responses import Response

            return Response(status_code=204, headers={"HX-Redirect": "/login?" + urlencode(q)})
        resp = RedirectResponse("/login?" + urlencode(q), status_code=303)
        if exc.ended_session:
            resp.delete_cookie("ketnoi_session", path="/")
        return resp

    @app.exception_handler(MustChangePassword)
    async def _must_change(request: Request, exc: MustChangePassword):
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if isinstance(exc, NotAuthenticated):
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        if is_api(request):
            return problem(exc.status, exc.detail, exc.errors, exc.title, headers=headers)
        return render_error(request, exc.status, exc.title, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = validation_errors(list(exc.errors()))
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        if is_api(request):
            return problem(422, detail or "Dữ liệu không hợp lệ.", errors)
        return render_error(request, 422, "Dữ liệu không hợp lệ", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else ""
        detail = detail or {404: "Đường dẫn không tồn tại.", 405: "Phương thức không được hỗ trợ cho đường dẫn này."}.get(
            exc.status_code, HTTP_TITLES.get(exc.status_code, "Lỗi"))
        if is_api(request):
            return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))
        return render_error(request, exc.status_code, HTTP_TITLES.get(exc.status_code, "Lỗi"), detail)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        log.warning("integrity error: %s", exc.orig)
        msg = "Dữ liệu trùng hoặc đang được tham chiếu bởi dữ liệu khác."
        return problem(409, msg) if is_api(request) else render_error(request, 409, "Xung đột dữ liệu", msg)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        msg = "Giá trị gửi lên không lưu được (sai kiểu hoặc ký tự không hợp lệ)."
        return problem(400, msg) if is_api(request) else render_error(request, 400, "Dữ liệu không hợp lệ", msg)

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError):
        log.error("database unavailable: %s", exc)
        msg = "Cơ sở dữ liệu tạm thời không sẵn sàng, vui lòng thử lại."
        return problem(503, msg) if is_api(request) else render_error(request, 503, "Tạm thời gián đoạn", msg)

    @app.exception_handler(UnicodeError)
    async def _unicode(request: Request, exc: UnicodeError):
        msg = "Văn bản chứa ký tự không hợp lệ."
        return problem(400, msg) if is_api(request) else render_error(request, 400, "Dữ liệu không hợp lệ", msg)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        msg = "Đã có lỗi hệ thống; sự cố đã được ghi lại."
        return problem(500, msg) if is_api(request) else render_error(request, 500, "Lỗi hệ thống", msg)
