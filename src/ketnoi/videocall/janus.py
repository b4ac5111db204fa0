"""Janus media server for video calls (VC-03, 13): configuration, process, and a client of its
WebSocket JSON API and Admin API.

ketnoi never touches browser media: each call is a VideoRoom room that Janus records. This module
writes a Janus configuration directory (secrets from settings, never in code), runs ``janus`` on
loopback ports, and talks to it over ``janus-protocol`` / ``janus-admin-protocol`` WebSockets.

Security of an instance (docs/VIDEOCALL.md):
* the client API is open only with the API secret (ketnoi) or a stored token (``token_auth``) that
  ketnoi adds through the Admin API for one call participant and removes when the call ends;
* only ketnoi may create rooms (VideoRoom ``admin_key``); a room has a secret, and an ``allowed``
  list with the tokens of exactly the two participants; subscribers must present a publisher's
  private id (``require_pvtid``);
* the API and Admin API listen on 127.0.0.1; ICE uses one configured address and a bounded port range.
  Janus never gathers loopback candidates (its ICE setup skips loopback interfaces), so the ICE
  address defaults to the host's first non-loopback IPv4 address.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import connect

log = logging.getLogger("ketnoi.videocall.janus")

PLUGIN = "janus.plugin.videoroom"
KEEPALIVE = 25.0  # seconds; Janus ends a session after session_timeout (60 s) of silence
REQUEST_TIMEOUT = 10.0
# Plugins and transports of the Debian package that a video-call instance does not load.
UNUSED_PLUGINS = ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming",
                  "textroom", "videocall", "voicemail")
UNUSED_TRANSPORTS = ("http", "mqtt", "nanomsg", "pfunix", "rabbitmq")


class JanusError(Exception):
    """Janus refused a request or could not be reached; ``code`` is Janus's error code when known."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


# --- secrets and addresses ------------------------------------------------------------------------
def derived_secret(server_key: str, purpose: str) -> str:
    """A secret for one purpose, derived from the platform's secret key (kept out of code and config)."""
    return hmac.new(server_key.encode(), f"ketnoi-janus:{purpose}".encode(), hashlib.sha256).hexdigest()[:40]


def host_ipv4_addresses() -> list[tuple[str, str]]:
    """(interface, IPv4 address) of every interface that has one, loopback excluded."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))  # SIOCGIFADDR
            except OSError:
                continue
            addr = socket.inet_ntoa(packed[20:24])
            if not addr.startswith("127."):
                out.append((name, addr))
    return out


def default_ice_ip() -> str:
    found = host_ipv4_addresses()
    return found[0][1] if found else ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def janus_lib_dir() -> str:
    """Where the Debian package keeps plugins and transports (multiarch path)."""
    found = sorted(glob.glob("/usr/lib/*/janus")) + sorted(glob.glob("/usr/lib/janus"))
    return found[0] if found else "/usr/lib/x86_64-linux-gnu/janus"


# --- configuration --------------------------------------------------------------------------------
@dataclass
class JanusConfig:
    """Everything one instance needs; ``write`` renders it into a configuration directory."""

    name: str
    ws_port: int
    admin_port: int
    api_secret: str
    admin_secret: str
    room_key: str
    rtp_ports: tuple[int, int] = (20000, 20999)
    ice_ip: str = ""
    lib_dir: str = field(default_factory=janus_lib_dir)
    session_timeout: int = 60
    reclaim_timeout: int = 30  # a browser whose WebSocket dropped may reclaim its session meanwhile
    no_media_timer: int = 2
    slowlink_threshold: int = 4
    debug_level: int = 4
    rec_root: str = ""  # recordings go below this directory: the only one Janus may write files into

    def protected_folders(self) -> list[str]:
        """Every directory that is not on the way to the recordings: a participant may name a
        recording file when publishing, and Janus refuses to write below a protected folder
        (a prefix match on the resolved path)."""
        if not self.rec_root:
            return ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/sbin", "/sys", "/usr"]
        parts = Path(self.rec_root).resolve().parts
        out = []
        for depth in range(1, len(parts)):
            parent, keep = Path(*parts[:depth]), parts[depth]
            try:
                names = sorted(os.listdir(parent))
            except OSError:
                continue
            for name in names:
                path = parent / name
                if name != keep and not keep.startswith(name) and path.is_dir() and not path.is_symlink():
                    out.append(str(path))
        return out

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def admin_url(self) -> str:
        return f"ws://127.0.0.1:{self.admin_port}"

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        q = json.dumps  # jcfg (libconfig) strings use the same quoting as JSON
        lib = self.lib_dir
        protected = self.protected_folders()
        nat = [f"ice_enforce_list = {q(self.ice_ip)}"] if self.ice_ip else []
        files = {
            "janus.jcfg": f"""general: {{
  configs_folder = {q(str(directory))}
  plugins_folder = {q(lib + '/plugins')}
  transports_folder = {q(lib + '/transports')}
  events_folder = {q(lib + '/events')}
  loggers_folder = {q(lib + '/loggers')}
  debug_level = {self.debug_level}
  debug_timestamps = true
  debug_colors = false
  server_name = {q('ketnoi-' + self.name)}
  api_secret = {q(self.api_secret)}
  token_auth = true
  admin_secret = {q(self.admin_secret)}
  session_timeout = {self.session_timeout}
  reclaim_session_timeout = {self.reclaim_timeout}
  hide_dependencies = true
  protected_folders = [{', '.join(q(p) for p in protected)}]
}}
media: {{
  rtp_port_range = "{self.rtp_ports[0]}-{self.rtp_ports[1]}"
  no_media_timer = {self.no_media_timer}
  slowlink_threshold = {self.slowlink_threshold}
  min_nack_queue = 500
}}
nat: {{
  nice_debug = false
  ignore_mdns = true
  {chr(10).join(nat)}
}}
plugins: {{
  disable = {q(','.join(f'libjanus_{p}.so' for p in UNUSED_PLUGINS))}
}}
transports: {{
  disable = {q(','.join(f'libjanus_{t}.so' for t in UNUSED_TRANSPORTS))}
}}
loggers: {{
  disable = "libjanus_jsonlog.so"
}}
events: {{
  broadcast = false
}}
""",
            "janus.transport.websockets.jcfg": f"""general: {{
  json = "plain"
  ws = true
  ws_port = {self.ws_port}
  ws_ip = "127.0.0.1"
  wss = false
  ws_logging = "err"
}}
admin: {{
  admin_ws = true
  admin_ws_port = {self.admin_port}
  admin_ws_ip = "127.0.0.1"
  admin_ws_acl = "127."
  admin_wss = false
}}
""",
            "janus.plugin.videoroom.jcfg": f"""general: {{
  admin_key = {q(self.room_key)}
  lock_rtp_forward = true
  string_ids = true
}}
""",
        }
        for name, text in files.items():
            path = directory / name
            path.write_text(text)
            path.chmod(0o600)
        return directory


# --- the process ----------------------------------------------------------------------------------
class JanusProcess:
    """One ``janus`` process on its configuration directory; its log goes to ``janus.log`` there."""

    def __init__(self, config: JanusConfig, directory: Path, binary: str = "janus"):
        self.config, self.directory, self.binary = config, directory, binary
        self.proc: subprocess.Popen | None = None
        self.log_path = directory / "janus.log"

    def start(self, timeout: float = 15.0) -> JanusProcess:
        exe = shutil.which(self.binary)
        if exe is None:
            raise JanusError(f"Janus executable {self.binary!r} not found (Debian package 'janus')")
        self.config.write(self.directory)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                [exe, "-F", str(self.directory), "-C", str(self.directory / "janus.jcfg"), "-o"],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.directory,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise JanusError(f"Janus exited with {self.proc.returncode}; see {self.log_path}")
            if _port_open(self.config.ws_port) and _port_open(self.config.admin_port):
                return self
            time.sleep(0.1)
        self.stop()
        raise JanusError(f"Janus did not open its ports within {timeout:.0f} s; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- API clients ----------------------------------------------------------------------------------
class _Connection:
    """One WebSocket to Janus with request/response matching on ``transaction``."""

    def __init__(self, url: str, protocol: str):
        self.url, self.protocol = url, protocol
        self.ws = None
        self.pending: dict[str, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def open(self) -> None:
        async with self.lock:
            if self.ws is not None:
                return
            self.ws = await asyncio.wait_for(connect(self.url, subprotocols=[self.protocol], max_size=2**22,
                                                     open_timeout=5, ping_interval=20), REQUEST_TIMEOUT)
            self.reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                fut = self.pending.get(msg.get("transaction", ""))
                if fut is not None and not fut.done() and msg.get("janus") != "ack":
                    fut.set_result(msg)
        except (websockets.ConnectionClosed, OSError):
            pass
        finally:
            if self.ws is ws:
                self.ws = None
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(JanusError("connection to Janus lost"))

    async def request(self, body: dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        try:
            await self.open()
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as e:
            raise JanusError(f"cannot reach Janus at {self.url}: {e}") from None
        tx = secrets.token_hex(8)
        fut = asyncio.get_running_loop().create_future()
        self.pending[tx] = fut
        try:
            await self.ws.send(json.dumps({**body, "transaction": tx}))
            msg = await asyncio.wait_for(fut, timeout)
        except (websockets.ConnectionClosed, OSError, AttributeError) as e:
            raise JanusError(f"connection to Janus lost: {e}") from None
        except TimeoutError:
            raise JanusError("Janus did not answer in time") from None
        finally:
            self.pending.pop(tx, None)
        if msg.get("janus") == "error":
            err = msg.get("error") or {}
            raise JanusError(err.get("reason") or "Janus error", err.get("code"))
        return msg

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


class JanusClient:
    """ketnoi's own session on one instance: one VideoRoom handle for room management, kept alive,
    re-created after a lost connection; plus the Admin API for participant tokens."""

    def __init__(self, name: str, url: str, admin_url: str, api_secret: str, admin_secret: str, room_key: str,
                 public_url: str = ""):
        self.name, self.url, self.admin_url = name, url, admin_url
        self.public_url = public_url or url
        self.api_secret, self.admin_secret, self.room_key = api_secret, admin_secret, room_key
        self.api = _Connection(url, "janus-protocol")
        self.admin = _Connection(admin_url, "janus-admin-protocol")
        self.session_id: int | None = None
        self.handle_id: int | None = None
        self.keepalive: asyncio.Task | None = None
        self.healthy = False
        self.last_error = ""

    # the session and handle, (re)made on demand
    async def _handle(self) -> tuple[int, int]:
        if self.api.ws is None:
            self.session_id = self.handle_id = None
        if self.session_id is None or self.handle_id is None:
            created = await self.api.request({"janus": "create", "apisecret": self.api_secret})
            self.session_id = created["data"]["id"]
            attached = await self.api.request({"janus": "attach", "plugin": PLUGIN, "session_id": self.session_id,
                                               "apisecret": self.api_secret})
            self.handle_id = attached["data"]["id"]
            if self.keepalive is None or self.keepalive.done():
                self.keepalive = asyncio.create_task(self._keep_alive())
        return self.session_id, self.handle_id

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE)
            sid = self.session_id
            if sid is None:
                continue
            try:
                await self.api.request({"janus": "keepalive", "session_id": sid, "apisecret": self.api_secret})
            except JanusError as e:
                log.warning("janus %s keepalive failed: %s", self.name, e)
                self.session_id = self.handle_id = None

    async def room_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous VideoRoom request; returns the plugin's data or raises JanusError."""
        for attempt in (1, 2):
            try:
                sid, hid = await self._handle()
                msg = await self.api.request({"janus": "message", "session_id": sid, "handle_id": hid,
                                              "apisecret": self.api_secret, "body": body})
                break
            except JanusError as e:
                if attempt == 2 or e.code not in (None, 458, 459):  # lost link / no such session / handle
                    self.healthy, self.last_error = False, str(e)
                    raise
                self.session_id = self.handle_id = None
        data = ((msg.get("plugindata") or {}).get("data")) or {}
        if data.get("error_code"):
            raise JanusError(data.get("error") or "VideoRoom error", data["error_code"])
        self.healthy = True
        return data

    async def admin_request(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            msg = await self.admin.request({**body, "admin_secret": self.admin_secret})
        except JanusError as e:
            self.healthy, self.last_error = False, str(e)
            raise
        return msg

    # --- operations ketnoi uses -------------------------------------------------------------------
    async def info(self) -> dict[str, Any]:
        """Health check: the ``info`` request; marks the instance healthy or not."""
        try:
            msg = await self.api.request({"janus": "info"}, timeout=5)
        except JanusError as e:
            self.healthy, self.last_error = False, str(e)
            raise
        self.healthy, self.last_error = True, ""
        return msg

    async def add_token(self, token: str) -> None:
        await self.admin_request({"janus": "add_token", "token": token, "plugins": [PLUGIN]})

    async def remove_token(self, token: str) -> None:
        with contextlib.suppress(JanusError):
            await self.admin_request({"janus": "remove_token", "token": token})

    async def create_room(self, room: str, *, secret: str, allowed: list[str], rec_dir: str, description: str = "",
                          bitrate: int = 512_000) -> dict[str, Any]:
        """A two-party recorded room: only the ``allowed`` tokens may join (VC-13)."""
        return await self.room_request({
            "request": "create", "room": room, "admin_key": self.room_key, "permanent": False,
            "description": description[:100], "secret": secret, "is_private": True, "allowed": allowed,
            "publishers": 2, "require_pvtid": True, "bitrate": bitrate, "bitrate_cap": True, "fir_freq": 5,
            "audiocodec": "opus", "videocodec": "vp8", "record": True, "rec_dir": rec_dir,
            "lock_record": True, "notify_joining": True, "audiolevel_event": False})

    async def allow(self, room: str, secret: str, tokens: list[str], action: str = "add") -> list[str]:
        data = await self.room_request({"request": "allowed", "room": room, "secret": secret, "action": action,
                                        "allowed": tokens})
        return list(data.get("allowed") or [])

    async def participants(self, room: str) -> list[dict[str, Any]]:
        data = await self.room_request({"request": "listparticipants", "room": room})
        return list(data.get("participants") or [])

    async def kick(self, room: str, secret: str, participant_id: str) -> None:
        with contextlib.suppress(JanusError):
            await self.room_request({"request": "kick", "room": room, "secret": secret, "id": participant_id})

    async def destroy_room(self, room: str, secret: str) -> None:
        try:
            await self.room_request({"request": "destroy", "room": room, "secret": secret})
        except JanusError as e:
            if e.code != 426:  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM: already gone
                raise

    async def sessions(self) -> int:
        msg = await self.admin_request({"janus": "list_sessions"})
        return len(msg.get("sessions") or [])

    async def close(self) -> None:
        if self.keepalive is not None:
            self.keepalive.cancel()
            with contextlib.suppress(BaseException):
                await self.keepalive
        sid = self.session_id
        if sid is not None and self.api.ws is not None:
            with contextlib.suppress(JanusError):
                await self.api.request({"janus": "destroy", "session_id": sid, "apisecret": self.api_secret}, timeout=2)
        await self.api.close()
        await self.admin.close()


def client_for(instance: dict[str, str], api_secret: str, admin_secret: str, room_key: str) -> JanusClient:
    return JanusClient(instance.get("name") or instance["url"], instance["url"], instance["admin_url"], api_secret,
                       admin_secret, room_key, instance.get("public_url", ""))


def rtp_slices(spec: str, n: int) -> list[tuple[int, int]]:
    """Splits "20000-20999" into ``n`` disjoint ranges, one per managed instance."""
    lo, hi = (int(x) for x in spec.split("-", 1))
    if n < 1 or hi - lo + 1 < 20 * n:
        raise ValueError(f"RTP port range {spec} is too small for {n} instance(s)")
    size = (hi - lo + 1) // n
    return [(lo + i * size, lo + (i + 1) * size - 1) for i in range(n)]
