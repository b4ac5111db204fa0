"""Login, sessions and tokens, throttling, password change and recovery (CRM-01/02, PERM-01/03, VC-10)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.core.errors import Forbidden, NotAuthenticated, RateLimited, ValidationFailed
from ketnoi.db.base import utcnow
from ketnoi.events import Event, queue_event
from ketnoi.identity.models import AuthSession, LoginAttempt, PasswordHistory, PasswordResetCode, User
from ketnoi.identity.passwords import (
    dummy_verify,
    hash_password,
    needs_rehash,
    policy_errors,
    verify_password,
)
from ketnoi.identity.principal import Principal
from ketnoi.identity.rbac import principal_for
from ketnoi.outbox.service import enqueue_message
from ketnoi.settings import get_settings

log = logging.getLogger("ketnoi.security")


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def device_label(user_agent: str) -> str:
    """A short human name for a device, e.g. 'Chrome trên Windows'."""
    ua = user_agent or ""
    browser = next(
        (name for key, name in (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                                ("Safari/", "Safari"), ("python-httpx", "ứng dụng API"), ("curl/", "curl"))
         if key in ua),
        "Trình duyệt",
    )
    os_name = next(
        (name for key, name in (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
                                ("Mac OS", "macOS"), ("Linux", "Linux")) if key in ua),
        "",
    )
    return f"{browser} trên {os_name}" if os_name else browser


class IpThrottle:
    """Sliding one-minute window of login attempts per client address (per process)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, ip: str, limit: int) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._hits[ip]
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= limit:
                raise RateLimited("Quá nhiều lần đăng nhập từ địa chỉ này. Vui lòng thử lại sau một phút.", 60)
            q.append(now)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


ip_throttle = IpThrottle()


@dataclass
class LoginResult:
    session: AuthSession
    token: str
    user: User
    replaced: list[AuthSession]


def _fmt_local(dt: datetime) -> str:
    from zoneinfo import ZoneInfo

    return dt.astimezone(ZoneInfo(get_settings().timezone)).strftime("%H:%M %d/%m/%Y")


def login(db: Session, username: str, password: str, *, kind: str, ip: str = "", user_agent: str = "") -> LoginResult:
    """Check credentials, end the account's other sessions (VC-10) and open a new one.

    Failures are committed before the error is raised, so that lockout counts survive.
    """
    s = get_settings()
    ip_throttle.hit(ip or "?", s.login_ip_max_per_minute)
    now = utcnow()
    uname = (username or "").strip().lower()
    user = db.scalar(select(User).where(User.username == uname)) if uname else None

    def fail(reason: str, exc: Exception) -> None:
        db.add(LoginAttempt(username=uname[:100], ip=ip, success=False, reason=reason))
        log.warning("login failed user=%s ip=%s reason=%s", uname, ip, reason)
        db.commit()
        raise exc

    bad = NotAuthenticated("Tên đăng nhập hoặc mật khẩu không đúng.")
    if user is None:
        dummy_verify(password or "")
        fail("unknown_user", bad)
    assert user is not None
    if user.locked_until and user.locked_until > now:
        fail("locked", RateLimited(
            f"Tài khoản tạm khóa đến {_fmt_local(user.locked_until)} do đăng nhập sai nhiều lần.",
            int((user.locked_until - now).total_seconds()) + 1))
    if not verify_password(user.password_hash, password or ""):
        user.failed_logins += 1
        if user.failed_logins >= s.login_max_failures:
            user.locked_until = now + timedelta(minutes=s.login_lockout_minutes)
            user.failed_logins = 0
            record(db, None, "user.locked", "user", user.id, organization_id=user.organization_id, ip=ip,
                   summary=f"Tạm khóa tài khoản {user.username} sau {s.login_max_failures} lần đăng nhập sai")
            log.warning("account locked user=%s ip=%s until=%s", uname, ip, user.locked_until.isoformat())
        fail("bad_password", bad)
    if not user.is_active:
        fail("inactive", Forbidden("Tài khoản đã bị vô hiệu hóa. Liên hệ quản trị viên."))
    if user.organization_id and user.organization and not user.organization.is_active:
        fail("org_inactive", Forbidden("Tổ chức của tài khoản đang ngừng hoạt động."))

    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now

    raw = secrets.token_urlsafe(32)
    minutes = s.session_idle_minutes if kind == "web" else s.access_token_minutes
    new = AuthSession(
        user_id=user.id,
        token_hash=token_hash(raw),
        kind=kind,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=now + timedelta(minutes=minutes),
        ip=ip[:64],
        user_agent=(user_agent or "")[:400],
        device=device_label(user_agent),
    )
    db.add(new)
    db.flush()
    replaced: list[AuthSession] = []
    if not user.allow_multiple_sessions:
        replaced = list(db.scalars(select(AuthSession).where(
            AuthSession.user_id == user.id, AuthSession.ended_at.is_(None), AuthSession.id != new.id)))
        for old in replaced:
            old.ended_at = now
            old.end_reason = "replaced"
            old.replaced_by_id = new.id
        if replaced:
            queue_event(db, Event(
                type="session.replaced",
                data={"at": now.isoformat(), "at_local": _fmt_local(now), "device": new.device, "ip": new.ip,
                      "message": replaced_message(new)},
                org_id=user.organization_id,
                session_ids=[o.id for o in replaced],
            ))
    db.add(LoginAttempt(username=uname, ip=ip, success=True))
    record(db, None, "login", "user", user.id, organization_id=user.organization_id, actor_name=user.username, ip=ip,
           summary=f"Đăng nhập ({'bảng điều khiển' if kind == 'web' else 'API'}) từ {new.device}"
           + (f"; kết thúc {len(replaced)} phiên cũ" if replaced else ""))
    return LoginResult(session=new, token=raw, user=user, replaced=replaced)


def replaced_message(new: AuthSession) -> str:
    return (f"Phiên làm việc của bạn đã kết thúc vì tài khoản vừa đăng nhập trên thiết bị khác "
            f"({new.device}) lúc {_fmt_local(new.created_at)}.")


def ended_session_message(db: Session, sess: AuthSession) -> str:
    if sess.end_reason == "replaced" and sess.replaced_by_id:
        new = db.get(AuthSession, sess.replaced_by_id)
        if new:
            return replaced_message(new)
    return {
        "logout": "Bạn đã đăng xuất.",
        "revoked": "Phiên làm việc đã bị quản trị viên kết thúc.",
        "password": "Mật khẩu đã được thay đổi, vui lòng đăng nhập lại.",
    }.get(sess.end_reason, "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.")


@dataclass
class Authenticated:
    session: AuthSession
    user: User
    principal: Principal


class SessionEnded(NotAuthenticated):
    """The token belonged to a session that has ended; carries why, for the login page."""

    def __init__(self, detail: str, session_id: str):
        super().__init__(detail)
        self.session_id = session_id


def authenticate(db: Session, raw_token: str, *, ip: str = "") -> Authenticated:
    if not raw_token or len(raw_token) > 200:
        raise NotAuthenticated("Chưa đăng nhập hoặc phiên đã hết hạn.")
    sess = db.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(raw_token)))
    if sess is None:
        raise NotAuthenticated("Chưa đăng nhập hoặc phiên đã hết hạn.")
    now = utcnow()
    if sess.ended_at is not None:
        raise SessionEnded(ended_session_message(db, sess), sess.id)
    if sess.expires_at <= now:
        sess.ended_at = now
        sess.end_reason = "expired"
        db.commit()
        raise SessionEnded("Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.", sess.id)
    user = sess.user
    if not user.is_active:
        raise NotAuthenticated("Tài khoản đã bị vô hiệu hóa.")
    if (now - sess.last_seen_at).total_seconds() > 60:
        sess.last_seen_at = now
        if sess.kind == "web":  # idle timeout slides for console sessions
            sess.expires_at = now + timedelta(minutes=get_settings().session_idle_minutes)
    return Authenticated(sess, user, principal_for(db, user, sess, ip=ip))


def end_session(db: Session, sess: AuthSession, reason: str, actor: Principal | None = None) -> None:
    if sess.ended_at is None:
        sess.ended_at = utcnow()
        sess.end_reason = reason
        queue_event(db, Event(type="session.ended", data={"reason": reason}, org_id=sess.user.organization_id,
                              session_ids=[sess.id]))
        if reason == "logout":
            record(db, actor, "logout", "user", sess.user_id, organization_id=sess.user.organization_id,
                   actor_name=sess.user.username)


def end_user_sessions(db: Session, user: User, reason: str, keep_id: str | None = None) -> int:
    sessions = db.scalars(select(AuthSession).where(AuthSession.user_id == user.id, AuthSession.ended_at.is_(None)))
    n = 0
    for sess in sessions:
        if sess.id != keep_id:
            end_session(db, sess, reason)
            n += 1
    return n


def _set_password(db: Session, user: User, new_password: str, *, check_history: bool = True) -> None:
    s = get_settings()
    errors = policy_errors(new_password, user.username, user.full_name)
    if check_history:
        previous = [user.password_hash] + list(db.scalars(
            select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
            .order_by(PasswordHistory.created_at.desc()).limit(s.password_history)))
        if any(verify_password(h, new_password) for h in previous):
            errors.append(f"Mật khẩu mới không được trùng với {s.password_history} mật khẩu gần nhất.")
    if errors:
        raise ValidationFailed(" ".join(errors), [{"field": "new_password", "message": e} for e in errors])
    db.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()


def change_password(db: Session, principal: Principal, current: str, new: str, confirm: str) -> None:
    """PERM-03: current password, new twice, policy, hashed; other sessions end."""
    user = db.get(User, principal.user_id)
    assert user is not None
    if not verify_password(user.password_hash, current or ""):
        raise ValidationFailed.field("current_password", "Mật khẩu hiện tại không đúng.")
    if new != confirm:
        raise ValidationFailed.field("confirm_password", "Mật khẩu nhập lại không khớp.")
    _set_password(db, user, new)
    user.must_change_password = False
    end_user_sessions(db, user, "password", keep_id=principal.session_id)
    record(db, principal, "user.password_changed", "user", user.id, summary="Đổi mật khẩu")


def admin_reset_password(db: Session, principal: Principal, user: User, new_password: str = "") -> str:
    """An administrator sets a temporary password; the user must change it at next login."""
    temp = new_password or generate_password()
    _set_password(db, user, temp, check_history=False)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    end_user_sessions(db, user, "revoked")
    record(db, principal, "user.password_reset", "user", user.id, organization_id=user.organization_id,
           summary=f"Quản trị viên đặt lại mật khẩu cho {user.username}")
    return temp


def generate_password() -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(12)) + secrets.choice("!@#$%&*") + secrets.choice("23456789")
        if not policy_errors(pw):
            return pw


def _mask(dest: str, channel: str) -> str:
    if channel == "email" and "@" in dest:
        name, domain = dest.split("@", 1)
        return name[:2] + "***@" + domain
    return dest[:4] + "****" + dest[-3:]


def request_password_reset(db: Session, username: str, channel: str, *, ip: str = "") -> str:
    """CRM-02 step 1: send a one-time code. The answer never says whether the account exists."""
    s = get_settings()
    ip_throttle.hit("reset:" + (ip or "?"), s.login_ip_max_per_minute)
    if channel not in ("sms", "email"):
        raise ValidationFailed.field("channel", "Chọn nhận mã qua SMS hoặc email.")
    generic = ("Nếu tài khoản tồn tại và có " + ("số điện thoại" if channel == "sms" else "email")
               + " đã đăng ký, mã xác nhận đã được gửi. Mã có hiệu lực trong "
               + f"{s.reset_code_minutes} phút.")
    user = db.scalar(select(User).where(User.username == (username or "").strip().lower()))
    if user is None or not user.is_active:
        log.info("password reset requested for unknown/inactive user=%s ip=%s", username, ip)
        return generic
    dest = user.phone if channel == "sms" else user.email
    if not dest:
        return generic
    now = utcnow()
    recent = db.scalars(select(PasswordResetCode).where(
        PasswordResetCode.user_id == user.id, PasswordResetCode.created_at > now - timedelta(minutes=15))).all()
    if len(recent) >= 3:
        raise RateLimited("Bạn đã yêu cầu mã quá nhiều lần. Vui lòng thử lại sau 15 phút.", 900)
    # a new code supersedes the earlier ones
    db.execute(update(PasswordResetCode).where(PasswordResetCode.user_id == user.id,
                                               PasswordResetCode.used_at.is_(None)).values(used_at=now))
    code = f"{secrets.randbelow(10**6):06d}"
    db.add(PasswordResetCode(user_id=user.id, code_hash=hash_password(code), channel=channel, destination=dest,
                             expires_at=now + timedelta(minutes=s.reset_code_minutes)))
    enqueue_message(db, organization_id=user.organization_id, channel=channel, recipient=dest,
                    subject="Mã khôi phục mật khẩu ketnoi", purpose="password_reset",
                    body=f"Mã khôi phục mật khẩu ketnoi của bạn là {code}, hết hạn sau {s.reset_code_minutes} phút. "
                         "Không chia sẻ mã này cho bất kỳ ai.")
    record(db, None, "user.password_reset_requested", "user", user.id, organization_id=user.organization_id,
           actor_name=user.username, ip=ip, summary=f"Yêu cầu mã khôi phục mật khẩu qua {channel} ({_mask(dest, channel)})")
    return generic


def confirm_password_reset(db: Session, username: str, code: str, new: str, confirm: str, *, ip: str = "") -> None:
    """CRM-02 step 2: a valid, unexpired, unused code sets a new password (single use)."""
    s = get_settings()
    ip_throttle.hit("reset:" + (ip or "?"), s.login_ip_max_per_minute)
    invalid = ValidationFailed.field("code", "Mã xác nhận không đúng hoặc đã hết hạn.")
    user = db.scalar(select(User).where(User.username == (username or "").strip().lower()))
    if user is None:
        raise invalid
    now = utcnow()
    rc = db.scalar(select(PasswordResetCode).where(
        PasswordResetCode.user_id == user.id, PasswordResetCode.used_at.is_(None),
        PasswordResetCode.expires_at > now).order_by(PasswordResetCode.created_at.desc()))
    if rc is None:
        raise invalid
    if not verify_password(rc.code_hash, (code or "").strip()):
        rc.attempts += 1
        if rc.attempts >= s.reset_code_max_attempts:
            rc.used_at = now
        db.commit()
        raise invalid
    if new != confirm:
        raise ValidationFailed.field("confirm_password", "Mật khẩu nhập lại không khớp.")
    _set_password(db, user, new)
    rc.used_at = now
    user.must_change_password = False
    user.failed_logins = 0
    user.locked_until = None
    end_user_sessions(db, user, "password")
    record(db, None, "user.password_reset_done", "user", user.id, organization_id=user.organization_id,
           actor_name=user.username, ip=ip, summary="Đặt lại mật khẩu bằng mã xác nhận")
