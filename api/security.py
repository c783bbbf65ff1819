"""API tokens: random, shown once, stored only as a SHA-256 hash; each carries one role."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
