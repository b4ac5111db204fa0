"""Console pages for signing in and out, password recovery, the home page and one's own account
(CRM-01, CRM-02, PERM-01…03)."""

from __future__ import annotations

import hmac
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from ketnoi.core.errors import DomainError
from ketnoi.core.listing import ListParams
from ketnoi.identity import auth, users
from ketnoi.identity import schemas as S
from ketnoi.identity.models import AuthSession, User
from ketnoi.identity.principal import Principal
from ketnoi.identity.service import list_departments
from ketnoi.web.crud import Field, field_errors, form_data
from ketnoi.web.deps import PRE_CSRF_COOKIE, SESSION_COOKIE, DbDep, client_ip, console, pre_session_csrf
from ketnoi.web.pages import render

router = APIRouter()


def _safe_next(url: str | None) -> str:
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url and not url.startswith("/login"):
        return url[:500]
    return "/"


def _auth_page(request: Request, template: str, status: int = 200, **ctx):
    token = pre_session_csrf(request)
    resp = render(request, template, None, status=status, csrf_token=token, **ctx)
    resp.set_cookie(PRE_CSRF_COOKIE, token, httponly=True, samesite="strict",
                    secure=request.app.state.settings.cookie_secure, path="/")
    return resp


async def _check_pre_csrf(request: Request) -> bool:
    form = await request.form()
    cookie = request.cookies.get(PRE_CSRF_COOKIE, "")
    sent = str(form.get("csrf_token", ""))
    return bool(cookie) and hmac.compare_digest(cookie, sent)


CSRF_EXPIRED = "Biểu mẫu đã hết hạn, vui lòng thử lại."


@router.get("/login")
def login_page(request: Request, db: DbDep, next: str = "/", ended: str = ""):
    notice = ""
    if ended:
        sess = db.get(AuthSession, ended[:32])
        if sess is not None and sess.ended_at is not None:
            notice = auth.ended_session_message(db, sess)
    return _auth_page(request, "login.html", next=_safe_next(next), notice=notice, username="")


login_page.ketnoi_public = True  # type: ignore[attr-defined]


@router.post("/login")
async def login_submit(request: Request, db: DbDep):
    form = await request.form()
    username = str(form.get("username", ""))[:100]
    nxt = _safe_next(str(form.get("next", "/")))
    if not await _check_pre_csrf(request):
        return _auth_page(request, "login.html", 400, error=CSRF_EXPIRED, next=nxt, username=username)
    try:
        result = auth.login(db, username, str(form.get("password", ""))[:128], kind="web", ip=client_ip(request),
                            user_agent=request.headers.get("user-agent", ""))
    except DomainError as e:
        return _auth_page(request, "login.html", e.status, error=e.detail, next=nxt, username=username)
    target = "/account/password" if result.user.must_change_password else nxt
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="lax",
                    secure=request.app.state.settings.cookie_secure, path="/")
    resp.delete_cookie(PRE_CSRF_COOKIE, path="/")
    return resp


login_submit.ketnoi_public = True  # type: ignore[attr-defined]


@router.post("/logout")
def logout(request: Request, db: DbDep, p: Principal = console(None)):
    auth.end_session(db, request.state.auth.session, "logout", p)
    resp = RedirectResponse("/login?msg=" + quote("Bạn đã đăng xuất."), status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/forgot-password")
def forgot_page(request: Request):
    return _auth_page(request, "forgot.html", username="", channel="sms")


forgot_page.ketnoi_public = True  # type: ignore[attr-defined]


@router.post("/forgot-password")
async def forgot_submit(request: Request, db: DbDep):
    form = await request.form()
    username = str(form.get("username", ""))[:100].strip()
    channel = str(form.get("channel", "sms"))
    if not await _check_pre_csrf(request):
        return _auth_page(request, "forgot.html", 400, error=CSRF_EXPIRED, username=username, channel=channel)
    if not username:
        return _auth_page(request, "forgot.html", 422, error="Nhập tên đăng nhập.", username=username, channel=channel)
    try:
        message = auth.request_password_reset(db, username, channel, ip=client_ip(request))
    except DomainError as e:
        return _auth_page(request, "forgot.html", e.status, error=e.detail, username=username, channel=channel)
    return RedirectResponse(f"/reset-password?username={quote(username)}&msg={quote(message)}", status_code=303)


forgot_submit.ketnoi_public = True  # type: ignore[attr-defined]


@router.get("/reset-password")
def reset_page(request: Request, username: str = ""):
    return _auth_page(request, "reset.html", username=username[:100], errors={})


reset_page.ketnoi_public = True  # type: ignore[attr-defined]


@router.post("/reset-password")
async def reset_submit(request: Request, db: DbDep):
    form = await request.form()
    username = str(form.get("username", ""))[:100]
    if not await _check_pre_csrf(request):
        return _auth_page(request, "reset.html", 400, error=CSRF_EXPIRED, username=username, errors={})
    try:
        auth.confirm_password_reset(db, username, str(form.get("code", ""))[:12], str(form.get("new_password", ""))[:128],
                                    str(form.get("confirm_password", ""))[:128], ip=client_ip(request))
    except DomainError as e:
        errors, _ = field_errors(e) if e.errors else ({}, "")
        return _auth_page(request, "reset.html", e.status, error=e.detail, username=username, errors=errors)
    return RedirectResponse("/login?msg=" + quote("Đã đặt mật khẩu mới. Hãy đăng nhập."), status_code=303)


reset_submit.ketnoi_public = True  # type: ignore[attr-defined]


HOME_VIEWS = (("new", "Phản ánh mới"), ("in_progress", "Đang xử lý"), ("awaiting_approval", "Chờ phê duyệt"),
              ("near_due", "Sắp đến hạn"), ("overdue", "Quá hạn"), ("mine", "Của tôi"))


@router.get("/")
def home(request: Request, db: DbDep, p: Principal = console("home")):
    """The user's own figures, each counted in their scope (organization and unit subtree) as
    the list it links to counts it."""
    from ketnoi.core import listing
    from ketnoi.reports import queries as report_queries

    one = ListParams(page_size=1)
    stats = []

    def shown(n: int, capped: bool) -> str:
        return f"{n:,}{'+' if capped else ''}".replace(",", ".")

    if p.has("reports.read"):
        cap = listing.COUNT_CAP
        counts = report_queries.counts_by_view(db, p, cap=cap)
        for view, label in HOME_VIEWS:
            n = counts.get(view, 0)
            stats.append((label, shown(min(n, cap), n > cap), f"/reports?view={view}"))
    if p.has("identity.users.read"):
        page = users.list_users(db, p, one)
        stats.append(("Người dùng", shown(page.total, page.total_capped), "/admin/users"))
    if p.has("identity.departments.read"):
        page = list_departments(db, p, one)
        stats.append(("Đơn vị, phòng ban", shown(page.total, page.total_capped), "/admin/departments"))
    sessions = db.scalars(select(AuthSession).where(AuthSession.user_id == p.user_id)
                          .order_by(AuthSession.created_at.desc()).limit(5)).all()
    return render(request, "home.html", p, title="Trang chủ", stats=stats, sessions=sessions)


PROFILE_FIELDS = [
    Field("full_name", "Họ và tên", required=True, maxlength=200),
    Field("phone", "Số điện thoại", "tel", help="Dùng để nhận mã khôi phục mật khẩu qua SMS."),
    Field("email", "Email", "email", help="Dùng để nhận mã khôi phục mật khẩu qua email."),
    Field("address", "Địa chỉ", wide=True, maxlength=500),
]


def _profile_page(request, p, values, errors=None, form_error="", status=200):
    return render(request, "crud_form.html", p, status=status, title="Thông tin cá nhân", section="Tài khoản",
                  fields=PROFILE_FIELDS, values=values, errors=errors or {}, form_error=form_error,
                  action="/account/profile", cancel_url="/")


@router.get("/account/profile")
def profile_page(request: Request, db: DbDep, p: Principal = console(None)):
    u = db.get(User, p.user_id)
    return _profile_page(request, p, {f.name: getattr(u, f.name) for f in PROFILE_FIELDS})


@router.post("/account/profile")
async def profile_submit(request: Request, db: DbDep, p: Principal = console(None)):
    data = await form_data(request, PROFILE_FIELDS)
    try:
        users.update_profile(db, p, S.ProfileIn.model_validate(data))
    except Exception as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _profile_page(request, p, data, errors, msg, 422)
    return RedirectResponse("/account/profile?msg=" + quote("Đã lưu thông tin cá nhân."), status_code=303)


PASSWORD_FIELDS = [
    Field("current_password", "Mật khẩu hiện tại", "password", required=True),
    Field("new_password", "Mật khẩu mới", "password", required=True,
          help="Ít nhất 10 ký tự, gồm chữ hoa, chữ thường, chữ số và ký tự đặc biệt; không chứa tên đăng nhập."),
    Field("confirm_password", "Nhập lại mật khẩu mới", "password", required=True),
]


def _password_page(request, p, errors=None, form_error="", status=200):
    notice = "Bạn cần đổi mật khẩu trước khi tiếp tục sử dụng hệ thống." if p.must_change_password else ""
    return render(request, "crud_form.html", p, status=status, title="Đổi mật khẩu", section="Tài khoản",
                  fields=PASSWORD_FIELDS, values={}, errors=errors or {}, form_error=form_error, notice=notice,
                  action="/account/password", cancel_url="/", submit_label="Đổi mật khẩu")


@router.get("/account/password")
def password_page(request: Request, p: Principal = console(None)):
    return _password_page(request, p)


@router.post("/account/password")
async def password_submit(request: Request, db: DbDep, p: Principal = console(None)):
    data = await form_data(request, PASSWORD_FIELDS)
    try:
        auth.change_password(db, p, data["current_password"], data["new_password"], data["confirm_password"])
    except DomainError as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _password_page(request, p, errors, msg or e.detail, 422)
    return RedirectResponse("/?msg=" + quote("Đã đổi mật khẩu thành công."), status_code=303)
