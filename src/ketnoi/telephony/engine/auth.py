"""Digest authentication of extensions (RFC 3261 §22, RFC 8760) from the HA1 values the PBX stores
(CC-06: the SIP password itself is never kept), through the SIP core's ``DigestServer``."""

from __future__ import annotations

from ketnoi.telephony.pbx.config import PbxConfig
from ketnoi.telephony.sip.auth import AuthResult, DigestServer
from ketnoi.telephony.sip.message import Request


class ExtensionAuth:
    """Challenge and verify requests from extensions of one PBX (REGISTER: 401, INVITE: 407)."""

    def __init__(self, cfg: PbxConfig, *, nonce_ttl: float = 300.0, algorithms: str = "MD5") -> None:
        self.algorithms = tuple(a.strip().upper() for a in algorithms.split(",") if a.strip()) or ("MD5",)
        self.server = self._server(cfg.settings.realm, nonce_ttl)
        self.cfg = cfg

    def _server(self, realm: str, nonce_ttl: float) -> DigestServer:
        # SIPp's [authentication] leaves the user out of the digest uri (docs/TELEPHONY.md).
        return DigestServer(realm, nonce_ttl=nonce_ttl, algorithms=self.algorithms, uri_without_user=True)

    def on_config(self, cfg: PbxConfig) -> None:
        """A new applied configuration; the realm may have changed (then old nonces are refused)."""
        self.cfg = cfg
        if cfg.settings.realm != self.server.realm:
            self.server = self._server(cfg.settings.realm, self.server.nonce_ttl)

    @property
    def realm(self) -> str:
        return self.server.realm

    def challenge(self, now: float, *, stale: bool = False, proxy: bool = False) -> list[tuple[str, str]]:
        return self.server.challenge(now, stale=stale, proxy=proxy)

    def credentials_user(self, request: Request, *, proxy: bool = False) -> str | None:
        """The username of the request's credentials for our realm, if any."""
        params = self.server.credentials(request, proxy=proxy)
        return params.get("username") if params else None

    def verify(self, request: Request, number: str, now: float, *, proxy: bool = False) -> AuthResult:
        """Check the credentials against extension ``number`` of the applied configuration."""
        username = self.credentials_user(request, proxy=proxy)
        if username is not None and username != number:
            return AuthResult(False, username, reason="credentials of another user")
        cfg = self.cfg

        def ha1_lookup(user: str, algorithm: str) -> str | None:
            ext = cfg.extension(user)
            if ext is None or not ext.enabled:
                return None
            return ext.ha1_sha256 if algorithm == "SHA-256" else ext.ha1_md5

        result = self.server.verify(request, None, now, proxy=proxy, ha1_lookup=ha1_lookup)
        if result.reason == "unknown nonce":
            # Not one of ours (a restart or a new realm changed the secret): let the phone retry
            # with a fresh nonce instead of treating its password as wrong.
            result.stale = True
        return result
