"""The knowledge base as the service keeps it: data/'s answers, overlaid by the versions analysts wrote.

Every version is a row in `knowledge_versions`, so nothing an analyst writes is lost and every worker
process sees the same answers: each one reloads when the table has rows it has not seen.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import begin_write
from api.models import KnowledgeVersion, User
from triage.knowledge_base import KnowledgeBase, KnowledgeEntry, load_knowledge_base, wants_answers, with_answers
from triage.schemas import Suggestion
from triage.units import Catalogue


class KnowledgeService:
    """One per process: the merged knowledge base, reloaded when another process has written a version."""

    def __init__(self, path: Path, catalogue: Catalogue | None = None) -> None:
        self.path = path
        self.catalogue = catalogue
        self._lock = threading.Lock()
        self._seen = -1
        self._base: KnowledgeBase | None = None

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
        base = load_knowledge_base(self.path, catalogue=self.catalogue)
        entries = {e.id: e for e in base}
        rows = session.scalars(select(KnowledgeVersion).order_by(KnowledgeVersion.entry_id, KnowledgeVersion.version))
        for row in rows:
            entries[row.entry_id] = KnowledgeEntry.model_validate(row.body)
        return KnowledgeBase(list(entries.values()), catalogue=self.catalogue, source=f"{self.path} + database")

    def answer(self, session: Session, suggestion: Suggestion) -> Suggestion:
        """The suggestion with standard answers when it is a consultation; other calls never touch the database."""
        if not wants_answers(suggestion):
            return suggestion
        return with_answers(suggestion, self.current(session))

    def write(self, session: Session, changes: dict[str, Any], user: User) -> KnowledgeEntry:
        """Add or edit an entry (validated, next version) and store it; raises InvalidEntryError on bad input."""
        begin_write(session)
        knowledge = self._load(session)  # under the write lock: the versions it sees are final
        entry = knowledge.upsert(changes)
        session.add(KnowledgeVersion(entry_id=entry.id, version=entry.version, body=entry.model_dump(mode="json"), author=user.name))
        session.commit()
        return entry

    def history(self, session: Session, entry_id: str) -> list[dict[str, Any]]:
        """Every stored version of an entry, oldest first, with who wrote it and when."""
        rows = session.scalars(
            select(KnowledgeVersion).where(KnowledgeVersion.entry_id == entry_id).order_by(KnowledgeVersion.version)
        )
        return [{"version": r.version, "author": r.author, "at": r.at.isoformat(), "entry": r.body} for r in rows]
