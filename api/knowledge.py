"""The knowledge base as the service keeps it: data/'s answers, overlaid by the versions analysts wrote.

Every version is a row in `knowledge_versions`, so nothing an analyst writes is lost and every worker
process sees the same answers: each one reloads when the table has rows it has not seen. An edit names the
version it was based on, checked under the database's write lock, so of two analysts editing one answer the
second is told (`StaleEdit`) instead of silently undoing the first one's change.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import begin_write
from api.models import KnowledgeVersion, User
from api.schemas import KnowledgeHit, beijing_today
from triage.knowledge_base import KnowledgeBase, KnowledgeEntry, load_knowledge_base, wants_answers, with_answers
from triage.schemas import Suggestion
from triage.units import Catalogue


class StaleEdit(Exception):
    """An edit of an existing answer based on a version that is not the current one (or on none); nothing
    was written. `status` is the HTTP status: 409 for a stale version, 428 for a missing one."""

    def __init__(self, current: KnowledgeEntry, based_on: int | None) -> None:
        self.current = current
        self.status = 428 if based_on is None else 409
        if based_on is None:
            detail = f"editing {current.id} needs the version you edited (`version`); it is now at version {current.version}"
        else:
            detail = (
                f"{current.id} was changed since you read it (you edited version {based_on}, it is now at version "
                f"{current.version}): merge your change into the current answer and send version {current.version}"
            )
        super().__init__(detail)
        self.detail = detail


class KnowledgeService:
    """One per process: the merged knowledge base, reloaded when another process has written a version."""

    def __init__(self, path: Path, catalogue: Catalogue | None = None) -> None:
        self.path = path
        self.catalogue = catalogue
        self._lock = threading.Lock()
        self._seen = -1
        self._base: KnowledgeBase | None = None
        self._file: KnowledgeBase | None = None
        """data/'s answers as loaded once: every reload applies the stored versions to it (`KnowledgeBase.overlaid`)."""

    def current(self, session: Session) -> KnowledgeBase:
        """The knowledge base with every stored version applied (one cheap query when nothing changed)."""
        latest = session.scalar(select(func.coalesce(func.max(KnowledgeVersion.id), 0))) or 0
        if self._base is not None and latest == self._seen:
            return self._base
        with self._lock:
            if self._base is None or latest != self._seen:
                self._base = self._load(session)
                self._seen = latest
        return self._base

    def _load(self, session: Session) -> KnowledgeBase:
        """The file's answers with every stored version applied: only the entries analysts wrote are segmented again.
        Called under `_lock` (by `current`), which also guards loading the file once."""
        if self._file is None:
            self._file = load_knowledge_base(self.path, catalogue=self.catalogue)
        rows = session.scalars(select(KnowledgeVersion).order_by(KnowledgeVersion.entry_id, KnowledgeVersion.version))
        versions = [KnowledgeEntry.model_validate(row.body) for row in rows]
        return self._file.overlaid(versions, source=f"{self.path} + database")

    def answer(self, session: Session, suggestion: Suggestion) -> Suggestion:
        """The suggestion with standard answers when it is a consultation; other calls never touch the database."""
        if not wants_answers(suggestion):
            return suggestion
        return with_answers(suggestion, self.current(session))

    def search(self, session: Session, query: str, k: int) -> list[KnowledgeHit]:
        """The best answers for a question, each flagged when its review date has passed."""
        return [KnowledgeHit(**hit.model_dump()) for hit in self.current(session).search(query, k, today=beijing_today())]

    def overdue(self, session: Session) -> list[KnowledgeEntry]:
        """Answers past their review date (Beijing date), longest overdue first: the analysts' review list."""
        return self.current(session).overdue(beijing_today())

    def write(self, session: Session, changes: dict[str, Any], user: User, *, based_on: int | None = None) -> KnowledgeEntry:
        """Add or edit an entry (validated, next version) and store it. Raises InvalidEntryError on bad input,
        StaleEdit when an existing entry is edited without its current version; nothing is written then."""
        begin_write(session)
        knowledge = self.current(session)  # under the write lock: the versions it sees are final
        entry_id = changes.get("id")
        if entry_id and entry_id in knowledge:
            current = knowledge.get(entry_id)
            if based_on != current.version:
                raise StaleEdit(current, based_on)
        entry = knowledge.prepare(changes)  # checked, not indexed: the next read reloads, outside the write lock
        session.add(KnowledgeVersion(entry_id=entry.id, version=entry.version, body=entry.model_dump(mode="json"), author=user.name))
        session.commit()
        return entry

    def history(self, session: Session, entry_id: str) -> list[dict[str, Any]]:
        """Every stored version of an entry, oldest first, with who wrote it and when."""
        rows = session.scalars(
            select(KnowledgeVersion).where(KnowledgeVersion.entry_id == entry_id).order_by(KnowledgeVersion.version)
        )
        return [{"version": r.version, "author": r.author, "at": r.at.isoformat(), "entry": r.body} for r in rows]
