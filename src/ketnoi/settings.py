"""One typed settings object, read from KETNOI_* environment variables and `.env`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KETNOI_", env_file=".env", extra="ignore")

    # Where the embedded defaults keep their files (SQLite DB, secret key, uploads, recordings).
    data_dir: Path = Path("var")
    # sqlite:///… (default, under data_dir) or postgresql+psycopg://user:pw@host/db
    database_url: str = ""
    # redis://host:port/0 — enables cross-node fan-out of hub events.
    redis_url: str = ""
    # Signing key for CSRF tokens and similar; generated into data_dir on first start when empty.
    secret_key: str = ""

    host: str = "127.0.0.1"
    port: int = 8000
    # Public base URL used in links; empty = derived from host/port.
    base_url: str = ""
    # Reverse proxies whose X-Forwarded-For/Proto are trusted (comma-separated addresses, or *).
    forwarded_allow_ips: str = "127.0.0.1"
    # Cookies marked Secure (set true behind an HTTPS reverse proxy).
    cookie_secure: bool = False
    timezone: str = "Asia/Ho_Chi_Minh"

    # Sessions and tokens
    session_idle_minutes: int = 8 * 60
    access_token_minutes: int = 12 * 60

    # Password policy (PERM-03)
    password_min_length: int = 10
    password_history: int = 5
    # argon2id cost (RFC 9106 second recommended option by default)
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536

    # Login throttling
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_ip_max_per_minute: int = 30

    # Forgot-password one-time codes (CRM-02)
    reset_code_minutes: int = 10
    reset_code_max_attempts: int = 5

    # First administrator; when the password is empty one is generated and printed once.
    admin_username: str = "admin"
    admin_password: str = ""

    # Reports: deadlines (PERM-11) when no SLA rule matches, and the working calendar
    report_default_sla_hours: int = 72
    report_near_due_hours: int = 4
    working_hours: str = "07:30-11:30,13:30-17:00"
    working_days: str = "1,2,3,4,5"  # ISO weekdays, Monday = 1
    # Attachments of reports
    attachment_max_mb: int = 20

    # Log level of the server
    log_level: str = "info"

    # --- SMS channel (sms/) ---
    # --- end SMS ---

    # --- Call engine (telephony/) ---
    # --- end telephony ---

    # --- Video calls (videocall/) ---
    # --- end video calls ---

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'ketnoi.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def effective_secret_key(self) -> str:
        """The configured key, or one generated once and kept in data_dir (never in code)."""
        if self.secret_key:
            return self.secret_key
        self.ensure_dirs()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.secret_key = path.read_text().strip()
        return self.secret_key


@lru_cache
def get_settings() -> Settings:
    return Settings()
