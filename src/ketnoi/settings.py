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
    # Outbox sender and providers: None (unset) = on when at least one enabled provider is configured
    sms_enabled: bool | None = None
    # Sender (brandname / short code) when neither the message, its template nor a provider names one
    sms_default_sender: str = "1022"
    # Longest message accepted, in concatenated parts (8 parts = 536 Vietnamese or 1,224 plain characters)
    sms_max_parts: int = 8
    # Sending: attempts before a message fails, first retry delay (doubles each time, capped at 1 hour),
    # how long a worker may hold a claimed message before another takes it over, parallel sends
    sms_max_attempts: int = 8
    sms_retry_seconds: float = 10.0
    sms_lease_seconds: int = 300
    sms_concurrency: int = 64
    # Days to keep the SMS log (messages, parts, history); 0 = keep forever (OPERATIONS.md: retention)
    sms_retention_days: int = 0
    # --- end SMS ---

    # --- Call engine (telephony/) ---
    # The call engine runs inside `ketnoi serve` (off with `--no-telephony` or KETNOI_TELEPHONY=false).
    telephony: bool = True
    # Address the SIP and RTP sockets bind to: 0.0.0.0 to take calls from phones and trunks on the
    # network. Each organization's SIP ports and RTP range come from its applied PBX settings (CC-05).
    sip_bind_address: str = "127.0.0.1"
    # NAT keep-alive: OPTIONS to every registered contact this often (seconds; 0 = off).
    sip_keepalive_seconds: int = 30
    # OPTIONS ping to IP-authenticated trunks this often; its answer sets the trunk status (0 = off).
    sip_trunk_ping_seconds: int = 60
    # Seconds an extension rings before the call counts as unanswered (no answer → 480).
    sip_ring_timeout_seconds: int = 45
    # Digest algorithms offered to phones, in order (RFC 8760), e.g. "SHA-256,MD5". MD5 alone by default:
    # phones that do not know SHA-256 often fail on its challenge instead of skipping it (baresip/libre
    # and SIPp do), so offer SHA-256 only when every phone of the deployment supports it.
    sip_digest_algorithms: str = "MD5"
    # A call engine started on its own (`python -m ketnoi.telephony.engine`) looks for a configuration
    # applied in the console this often (seconds; 0 = only at start). The engine inside `ketnoi serve`
    # takes an Apply at once.
    telephony_apply_poll_seconds: float = 5.0
    # --- end telephony ---

    # --- Video calls (videocall/) ---
    # Janus instances to use, as JSON: [{"name", "url", "admin_url", "public_url"}]; empty = the instances
    # ketnoi starts itself (videocall_janus_autostart) on loopback ports from videocall_janus_ws_port.
    videocall_janus_instances: list[dict[str, str]] = []
    videocall_janus_autostart: bool = True
    videocall_janus_count: int = 1
    videocall_janus_ws_port: int = 8188  # API port of the first started instance (+1 for each next one)
    videocall_janus_admin_port: int = 7188
    videocall_janus_rtp_ports: str = "20000-20999"  # shared out between the started instances
    videocall_janus_ice_ip: str = ""  # ICE address of started instances; empty = first non-loopback IPv4
    videocall_janus_public_url: str = ""  # what browsers dial for a started instance; empty = its local URL
    videocall_janus_binary: str = "janus"
    # Janus secrets; empty = derived from secret_key (then they never appear in any file of the project)
    videocall_janus_api_secret: str = ""
    videocall_janus_admin_secret: str = ""
    videocall_janus_room_key: str = ""
    # Calls: how long a participant's credentials last, the reconnect grace (VC-14), request skew (VC-13)
    videocall_participant_minutes: int = 240
    videocall_reconnect_grace_seconds: int = 30
    videocall_max_skew_seconds: int = 300
    videocall_call_token_seconds: int = 120  # lifetime of a JWT that starts a call
    videocall_agent_seen_seconds: int = 90  # an agent page silent this long is offline for routing
    videocall_video_bitrate: int = 600_000  # publisher cap (REMB), bits per second (VC-15)
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
