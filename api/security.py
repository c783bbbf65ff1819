"""API tokens: random, shown once, stored only as a SHA-256 hash; each carries one role."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session, make_transient_to_detached

from api.db import begin_write
from api.models import Role, User

TOKEN_PREFIX = "tri_"


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough (no password stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def add_user(session: Session, name: str, role: Role | str) -> tuple[User, str]:
    """Create a user and return it with its token (the only time the token exists in clear)."""
    role = Role(role)
    name = name.strip()
    if not name:
        raise ValueError("a user needs a name")
    begin_write(session)
    if session.scalar(select(User).where(User.name == name)) is not None:
        session.rollback()
        raise ValueError(f"a user named {name!r} already exists")
    token = new_token()
    user = User(name=name, role=role.value, token_hash=hash_token(token))
    session.add(user)
    session.commit()
    return user, token


def find_user(session: Session, token: str) -> User | None:
    return session.scalar(select(User).where(User.token_hash == hash_token(token), User.active.is_(True)))


class TokenCache:
    """Tokens seen in the last `ttl` seconds, so a busy worker does not ask the database on every request.

    It keeps the user's id, name and role under the token's hash (never the token) and hands out a fresh
    detached `User` per request, so no ORM object is shared between sessions. A revoked token stops
    working within `ttl` seconds.
    """

    def __init__(self, ttl: float = 5.0, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, int, str, str]] = {}
        self._lock = threading.Lock()

    def user(self, session: Session, token: str) -> User | None:
        key = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is None or hit[0] < now:
            found = find_user(session, token)
            if found is None:
                return None
            hit = (now + self.ttl, found.id, found.name, found.role)
            with self._lock:
                if len(self._entries) >= self.size:
                    self._entries.clear()
                self._entries[key] = hit
        user = User(id=hit[1], name=hit[2], role=hit[3], token_hash=key, active=True)
        make_transient_to_detached(user)
        return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def first_admin(session: Session) -> str | None:
    """A first admin token when the database has no user at all (never a default credential)."""
    if count_users(session):
        return None
    try:
        _, token = add_user(session, "admin", Role.admin)
    except ValueError:  # another process created it in between
        return None
    return token
