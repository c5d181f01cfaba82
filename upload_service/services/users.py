"""Users: the local user, GitHub users, usage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from upload_service.db import Database, insert_ignoring_conflicts
from upload_service.errors import Conflict
from upload_service.models import File, SyncChunk, User, utcnow

LOCAL_LOGIN = "local"


@dataclass(frozen=True)
class GitHubProfile:
    github_id: int
    login: str
    name: str | None
    email: str | None
    avatar_url: str | None


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_login(session: Session, login: str) -> User | None:
    return session.scalar(select(User).where(User.login == login))


def ensure_local_user(session: Session) -> User:
    """The single user of local mode (no GitHub account), an admin of its own instance."""
    query = select(User).where(User.github_id.is_(None), User.login == LOCAL_LOGIN)
    user = session.scalar(query)
    if user is None:  # first sign-in; several may arrive at once, and one insert wins
        row = {"login": LOCAL_LOGIN, "name": "Local user", "is_admin": True}
        insert_ignoring_conflicts(session, User, [row], ["login"])
        user = session.scalar(query)
    if user is None:
        raise Conflict(
            f"The login {LOCAL_LOGIN!r} belongs to a GitHub account.", code="login_taken"
        )
    return user


def upsert_github_user(session: Session, profile: GitHubProfile) -> User:
    """Create or refresh the user for a GitHub account; logins can change, ids cannot."""
    user = get_user_by_github_id(session, profile.github_id) or _insert_github_user(
        session, profile
    )
    _free_login(session, profile)
    user.login = profile.login
    user.name = profile.name
    user.email = profile.email
    user.avatar_url = profile.avatar_url
    user.last_login_at = utcnow()
    session.flush()
    return user


def _insert_github_user(session: Session, profile: GitHubProfile) -> User:
    """The account's new row. Several first requests may race here: one insert wins and the
    others read its row (``ON CONFLICT DO NOTHING``, then select), so none of them fails.

    Every unique index is a conflict target, the login's too: on PostgreSQL a racing insert
    of the same account can clash on the login before its id, and a clash on an index that is
    not a target is an error. Where the login was taken by another account committed in the
    meantime, no row is ours yet: that account is moved aside and the insert tried again."""
    for _attempt in range(2):
        _free_login(session, profile)
        insert_ignoring_conflicts(session, User, [_new_user_row(profile)])
        user = get_user_by_github_id(session, profile.github_id)
        if user is not None:  # ours, or the committed row of the insert that won
            return user
    raise Conflict(
        f"The login {profile.login!r} is being taken by another account; try again.",
        code="login_taken",
    )


def _free_login(session: Session, profile: GitHubProfile) -> None:
    """Another account held this login and was renamed away on GitHub: rename it here too.

    So is the local user (no GitHub id, which ``!=`` alone would never match), so that a GitHub
    account named like it can sign in; it never takes over the local user's row."""
    other_account = or_(User.github_id.is_(None), User.github_id != profile.github_id)
    clash = session.scalar(select(User).where(User.login == profile.login, other_account))
    if clash is not None:
        clash.login = f"{clash.login}~{clash.id}"
        session.flush()


def _new_user_row(profile: GitHubProfile) -> dict[str, object]:
    return {
        "github_id": profile.github_id,
        "login": profile.login,
        "name": profile.name,
        "email": profile.email,
        "avatar_url": profile.avatar_url,
        "last_login_at": utcnow(),
    }


@contextmanager
def user_write_session(db: Database, user: User) -> Iterator[Session]:
    """The transaction for a read-decide-write on ``user``'s files, folders or uploads.

    It holds the database's write lock (SQLite) or the user's row (PostgreSQL) from before the
    first read to the commit, so what was decided on (a path is free, a file or a temporary
    upload is still there, the quota has room) is still true when it is written.
    """
    with db.write_session() as session:
        lock_user(session, user)
        yield session


def lock_user(session: Session, user: User) -> None:
    """Hold the user's row until the transaction ends, serializing that user's writers.

    Writes that check and then charge the quota, or settle a path, run under it, so two of
    them can never both pass a check that only one of them fits (PostgreSQL; on SQLite the
    write session holds the whole database's write lock anyway, so nothing is sent there).
    """
    if session.get_bind().dialect.name != "sqlite":
        session.execute(select(User.id).where(User.id == user.id).with_for_update())


def usage_bytes(session: Session, user: User) -> int:
    """Logical bytes counted against the quota: complete and temporary files, staged sync chunks."""
    total = session.scalar(
        select(func.coalesce(func.sum(File.size), 0)).where(File.owner_id == user.id)
    )
    staged = session.scalar(
        select(func.coalesce(func.sum(SyncChunk.size), 0)).where(SyncChunk.owner_id == user.id)
    )
    return int(total or 0) + int(staged or 0)


def quota_bytes(user: User, default_quota: int) -> int:
    """The user's quota in bytes; 0 means unlimited."""
    return user.quota_bytes if user.quota_bytes is not None else default_quota


def list_users(session: Session) -> list[tuple[User, int, int]]:
    """Every user with file count and bytes used, for admins."""
    usage = (
        select(
            File.owner_id, func.count(File.id).label("files"), func.sum(File.size).label("bytes")
        )
        .group_by(File.owner_id)
        .subquery()
    )
    rows = session.execute(
        select(User, func.coalesce(usage.c.files, 0), func.coalesce(usage.c.bytes, 0))
        .outerjoin(usage, usage.c.owner_id == User.id)
        .order_by(User.login)
    )
    return [(user, int(files), int(used)) for user, files, used in rows]


def get_user_by_github_id(session: Session, github_id: int) -> User | None:
    return session.scalar(select(User).where(User.github_id == github_id))


def ensure_github_user(session: Session, profile: GitHubProfile) -> User:
    """The user of a GitHub account, created on first sight (bearer GitHub tokens).

    Unlike :func:`upsert_github_user` an existing user is left as it is, so that scripts
    calling the API do not write to the users table on every request.
    """
    user = get_user_by_github_id(session, profile.github_id)
    return user if user is not None else _insert_github_user(session, profile)
