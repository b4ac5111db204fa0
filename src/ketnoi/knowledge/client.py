"""Python client of the knowledge API for partner systems: every request signed as in KB-01
(signing.py, docs/KNOWLEDGE_API.md).

    from ketnoi.knowledge.client import KnowledgeClient
    kb = KnowledgeClient("https://1022.example.gov.vn", "kn_…", "<secret>")
    hits = kb.search("cấp lại căn cước", mode="approximate")
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

from ketnoi.knowledge.signing import signed_headers

PREFIX = "/api/v1/knowledge"


class KnowledgeApiError(Exception):
    """A problem+json answer: ``status``, ``detail`` and the per-field ``errors``."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        self.detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.errors = problem.get("errors") or []
        super().__init__(f"{status}: {self.detail}")


class KnowledgeClient:
    """Signs each request with (key_id, secret). ``http`` may be any httpx.Client (a test client,
    a client with proxies or mTLS); by default one is made for ``base_url``."""

    def __init__(self, base_url: str, key_id: str, secret: str, *, timeout: float = 15.0,
                 http: httpx.Client | None = None, clock=time.time):
        self.key_id = key_id
        self.secret = secret
        self.clock = clock
        self.http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
                files: dict[str, Any] | None = None, nonce: str | None = None,
                idempotency_key: str | None = None) -> httpx.Response:
        """``idempotency_key``: sent as ``Idempotency-Key`` on a write, so that repeating the call with
        the same key after a timeout or a lost answer replays the first answer instead of writing twice."""
        params = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        content = None
        headers = {"Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False, default=str).encode()
            headers["Content-Type"] = "application/json"
        req = self.http.build_request(method, PREFIX + path, params=params, content=content, files=files,
                                      headers=headers)
        body = req.read()
        req.headers.update(signed_headers(self.key_id, self.secret, method, req.url.path,
                                          req.url.query.decode() if isinstance(req.url.query, bytes)
                                          else req.url.query, body, timestamp=int(self.clock()),
                                          nonce=nonce or secrets.token_hex(16)))
        resp = self.http.send(req)
        if resp.status_code >= 400:
            try:
                problem = resp.json()
            except ValueError:
                problem = {"detail": resp.text[:500]}
            raise KnowledgeApiError(resp.status_code, problem if isinstance(problem, dict) else {})
        return resp

    def _json(self, method: str, path: str, **kw) -> Any:
        resp = self.request(method, path, **kw)
        return None if resp.status_code == 204 else resp.json()

    @staticmethod
    def attachment(path: str | Path, filename: str | None = None) -> dict[str, str]:
        """A file as the ``attachment`` object of a JSON body (base64; keep JSON bodies under 2 MB)."""
        p = Path(path)
        return {"filename": filename or p.name, "content_base64": base64.b64encode(p.read_bytes()).decode()}

    # --- search ------------------------------------------------------------------------------------
    def search(self, q: str, *, mode: str = "approximate", type_doc: str = "", field: str = "", level: str = "",
               area_id: str = "", status: str = "published", page: int = 1, page_size: int = 20) -> dict:
        return self._json("GET", "/search", params={"q": q, "mode": mode, "type_doc": type_doc, "field": field,
                                                    "level": level, "area_id": area_id, "status": status,
                                                    "page": page, "page_size": page_size})

    # --- procedures --------------------------------------------------------------------------------
    def list_procedures(self, *, type_doc: str = "", field: str = "", status: str = "", q: str = "",
                        page: int = 1, page_size: int = 20, sort: str = "") -> dict:
        return self._json("GET", "/procedures", params={"type_doc": type_doc, "field": field, "status": status,
                                                        "q": q, "page": page, "page_size": page_size, "sort": sort})

    def create_procedure(self, data: dict[str, Any], *, idempotency_key: str | None = None) -> dict:
        """``data``: code, title, status, type_doc, field, … and ``answer`` {title, content, attachment?}."""
        return self._json("POST", "/procedures", json_body=data, idempotency_key=idempotency_key)

    def get_procedure(self, procedure_id: str) -> dict:
        return self._json("GET", f"/procedures/{procedure_id}")

    def update_procedure(self, procedure_id: str, changes: dict[str, Any],
                         *, idempotency_key: str | None = None) -> dict:
        return self._json("PATCH", f"/procedures/{procedure_id}", json_body=changes,
                          idempotency_key=idempotency_key)

    def delete_procedure(self, procedure_id: str, *, idempotency_key: str | None = None) -> None:
        self._json("DELETE", f"/procedures/{procedure_id}", idempotency_key=idempotency_key)

    # --- answers -----------------------------------------------------------------------------------
    def add_answer(self, procedure_id: str, data: dict[str, Any],
                   *, idempotency_key: str | None = None) -> dict:
        return self._json("POST", f"/procedures/{procedure_id}/answers", json_body=data,
                          idempotency_key=idempotency_key)

    def get_answer(self, answer_id: str) -> dict:
        return self._json("GET", f"/answers/{answer_id}")

    def update_answer(self, answer_id: str, changes: dict[str, Any],
                      *, idempotency_key: str | None = None) -> dict:
        return self._json("PATCH", f"/answers/{answer_id}", json_body=changes,
                          idempotency_key=idempotency_key)

    def delete_answer(self, answer_id: str, *, idempotency_key: str | None = None) -> None:
        self._json("DELETE", f"/answers/{answer_id}", idempotency_key=idempotency_key)

    # --- attachments -------------------------------------------------------------------------------
    def upload_attachment(self, answer_id: str, filename: str, content: bytes,
                          content_type: str = "application/octet-stream",
                          *, idempotency_key: str | None = None) -> dict:
        return self._json("POST", f"/answers/{answer_id}/attachments",
                          files={"file": (filename, content, content_type)}, idempotency_key=idempotency_key)

    def download_attachment(self, attachment_id: str) -> bytes:
        return self.request("GET", f"/attachments/{attachment_id}").content

    def delete_attachment(self, attachment_id: str, *, idempotency_key: str | None = None) -> None:
        self._json("DELETE", f"/attachments/{attachment_id}", idempotency_key=idempotency_key)

    # --- events (KB-22) ----------------------------------------------------------------------------
    def list_events(self, *, status: str = "", q: str = "", page: int = 1, page_size: int = 20) -> dict:
        return self._json("GET", "/events", params={"status": status, "q": q, "page": page, "page_size": page_size})

    def create_event(self, data: dict[str, Any], *, idempotency_key: str | None = None) -> dict:
        return self._json("POST", "/events", json_body=data, idempotency_key=idempotency_key)

    def get_event(self, event_id: str) -> dict:
        return self._json("GET", f"/events/{event_id}")

    def update_event(self, event_id: str, changes: dict[str, Any],
                     *, idempotency_key: str | None = None) -> dict:
        return self._json("PATCH", f"/events/{event_id}", json_body=changes, idempotency_key=idempotency_key)

    def delete_event(self, event_id: str, *, idempotency_key: str | None = None) -> None:
        self._json("DELETE", f"/events/{event_id}", idempotency_key=idempotency_key)

    def search_events(self, q: str, *, mode: str = "approximate", page: int = 1, page_size: int = 20) -> dict:
        return self._json("GET", "/events/search", params={"q": q, "mode": mode, "page": page,
                                                           "page_size": page_size})
