"""Users: the local user, GitHub users, usage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from upload_service.models import File, User, utcnow

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
    user = session.scalar(select(User).where(User.github_id.is_(None), User.login == LOCAL_LOGIN))
    if user is None:
        user = User(login=LOCAL_LOGIN, name="Local user", is_admin=True)
        session.add(user)
        session.flush()
    return user


def upsert_github_user(session: Session, profile: GitHubProfile) -> User:
    """Create or refresh the user for a GitHub account; logins can change, ids cannot."""
    user = session.scalar(select(User).where(User.github_id == profile.github_id))
    clash = session.scalar(
        select(User).where(User.login == profile.login, User.github_id != profile.github_id)
    )
    if clash is not None:  # the login was renamed away on GitHub; free it
        clash.login = f"{clash.login}~{clash.id}"
        session.flush()
    if user is None:
        user = User(github_id=profile.github_id, login=profile.login)
        session.add(user)
    user.login = profile.login
    user.name = profile.name
    user.email = profile.email
    user.avatar_url = profile.avatar_url
    user.last_login_at = utcnow()
    session.flush()
    return user


def usage_bytes(session: Session, user: User) -> int:
    """Logical bytes counted against the quota: complete and temporary files."""
    total = session.scalar(
        select(func.coalesce(func.sum(File.size), 0)).where(File.owner_id == user.id)
    )
    return int(total or 0)


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
    return user if user is not None else upsert_github_user(session, profile)
