"""Call records from the engine (CC-21, CRM-08): every step of a call is queued to one writer thread
that runs ``pbx.cdr`` functions in order, so the event loop never waits for the database.

Times are taken when the step happens, not when it is written. A step that fails is logged and the
call goes on; the records of a call are written in the order the call lived them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ketnoi.db.base import utcnow
from ketnoi.telephony.pbx import cdr

log = logging.getLogger(__name__)
_STOP = object()


class RecordWriter:
    """One daemon thread running queued database jobs in order (each in its own session)."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.written = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ketnoi-call-records", daemon=True)
            self._thread.start()

    def submit(self, job: Callable[[Any], None]) -> None:
        self._queue.put(job)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            try:
                with self.database.session() as s:
                    job(s)
                self.written += 1
            except Exception:
                self.failures += 1
                log.exception("writing a call record failed")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(lambda s: done.set())
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None


class CallLog:
    """The record of one call as the engine lives it. Leg keys are the engine's own (a leg object
    or a name); the record and leg ids are filled in by the writer thread."""

    def __init__(self, writer: RecordWriter | None, **start: Any) -> None:
        self.writer = writer
        self.call_id: str | None = None
        self.legs: dict[Any, str] = {}
        self.ended = False
        started_at = start.pop("started_at", None) or utcnow()
        self._submit(lambda s: setattr(self, "call_id", cdr.start_call(s, started_at=started_at, **start)))

    def _submit(self, job: Callable[[Any], None]) -> None:
        if self.writer is not None:
            self.writer.submit(job)

    def add_leg(self, key: Any, **leg: Any) -> None:
        at = utcnow()

        def job(s):
            if self.call_id:
                self.legs[key] = cdr.add_leg(s, self.call_id, started_at=at, **leg)
        self._submit(job)

    def ringing(self, key: Any) -> None:
        self._submit(lambda s: self.call_id and cdr.ringing(s, self.call_id, self.legs.get(key)))

    def answer(self, key: Any = None, *, extension: str | None = None, codec: str | None = None) -> None:
        at = utcnow()
        self._submit(lambda s: self.call_id and cdr.answer(s, self.call_id, leg_id=self.legs.get(key), at=at,
                                                           extension=extension, codec=codec))

    def end_leg(self, key: Any, *, disposition: str, sip_cause: int | None = None,
                quality: cdr.LegQuality | None = None, codec: str | None = None, note: str = "") -> None:
        at = utcnow()

        def job(s):
            leg_id = self.legs.get(key)
            if leg_id:
                cdr.end_leg(s, leg_id, disposition=disposition, sip_cause=sip_cause, at=at, quality=quality,
                            codec=codec, note=note)
        self._submit(job)

    def end(self, *, disposition: str, hangup_by: str = "", sip_cause: int | None = None,
            recording_path: str = "", quality: dict[Any, cdr.LegQuality] | None = None,
            at: datetime | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        at = at or utcnow()

        def job(s):
            if not self.call_id:
                return
            by_id = {self.legs[k]: q for k, q in (quality or {}).items() if k in self.legs}
            cdr.end_call(s, self.call_id, disposition=disposition, hangup_by=hangup_by, sip_cause=sip_cause,
                         at=at, recording_path=recording_path, quality=by_id or None)
        self._submit(job)
