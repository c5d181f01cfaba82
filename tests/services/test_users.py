"""services.users: the local user, GitHub users, usage and quota."""

from __future__ import annotations

import io
import threading
import time

import pytest
from sqlalchemy import insert, text

from tests.services.helpers import incoming, ingest, make_user, sha256
from upload_service.errors import Conflict
from upload_service.models import User
from upload_service.runtime import Runtime
from upload_service.services import sync, users
from upload_service.services.temporary import upload_temporary
from upload_service.services.users import GitHubProfile


def profile(github_id: int, login: str, name: str | None = None) -> GitHubProfile:
    return GitHubProfile(
        github_id=github_id, login=login, name=name, email=f"{login}@example.com", avatar_url=None
    )


def test_the_local_user_is_one_admin_created_on_first_use(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        first = users.ensure_local_user(session)
    with runtime.db.session() as session:
        again = users.ensure_local_user(session)
        assert users.get_user_by_login(session, users.LOCAL_LOGIN) is not None

    assert again.id == first.id
    assert (first.login, first.is_admin, first.github_id) == ("local", True, None)


def test_a_github_account_named_local_blocks_the_local_user(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        users.upsert_github_user(session, profile(7, "local"))

    with pytest.raises(Conflict) as info, runtime.db.session() as session:
        users.ensure_local_user(session)
    assert info.value.code == "login_taken"


def test_a_github_account_named_local_signs_in_beside_the_local_user(runtime: Runtime) -> None:
    with runtime.db.session() as session:  # the instance ran in local mode first
        local = users.ensure_local_user(session)
    with runtime.db.session() as session:
        github = users.upsert_github_user(session, profile(7, "local"))

    assert (github.login, github.github_id, github.is_admin) == ("local", 7, False)
    assert github.id != local.id
    with runtime.db.session() as session:
        assert session.get_one(User, local.id).login == f"local~{local.id}"


def test_a_github_user_keeps_one_row_across_renames(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        created = users.upsert_github_user(session, profile(42, "octo", "Octo"))
    with runtime.db.session() as session:
        renamed = users.upsert_github_user(session, profile(42, "octo-new", "Octo Cat"))

    assert renamed.id == created.id
    assert (renamed.login, renamed.name, renamed.email) == (
        "octo-new",
        "Octo Cat",
        "octo-new@example.com",
    )
    assert renamed.last_login_at is not None
    with runtime.db.session() as session:
        assert users.get_user_by_login(session, "octo") is None
        assert users.get_user(session, created.id) is not None


def test_a_login_taken_over_on_github_moves_the_old_holder_aside(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        old = users.upsert_github_user(session, profile(1, "name"))
    with runtime.db.session() as session:  # account 1 renamed away, account 2 took the name
        new = users.upsert_github_user(session, profile(2, "name"))

    with runtime.db.session() as session:
        assert users.get_user_by_login(session, "name").id == new.id  # type: ignore[union-attr]
        assert users.get_user_by_github_id(session, 1).login == f"name~{old.id}"  # type: ignore[union-attr]


def test_a_first_sign_in_racing_another_account_for_its_login_still_gets_its_row(
    runtime: Runtime,
) -> None:
    # Another account inserts the same login and has not committed yet: the first request of
    # account 1 cannot see it, waits on the login's unique index, and then must neither fail
    # (an IntegrityError was a 500) nor lose its row. PostgreSQL only: SQLite has one writer.
    if runtime.db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    other = runtime.db.engine.connect()
    other.execute(insert(User).values(github_id=2, login="name", is_admin=False))
    result: list[User | BaseException] = []

    def first_request() -> None:
        try:
            with runtime.db.session() as session:
                result.append(users.ensure_github_user(session, profile(1, "name")))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        wait_for_a_lock_wait(runtime)
    finally:
        other.commit()
        other.close()
    thread.join(timeout=30)

    assert len(result) == 1 and isinstance(result[0], User), result
    assert (result[0].github_id, result[0].login) == (1, "name")
    with runtime.db.session() as session:
        moved = users.get_user_by_github_id(session, 2)
        assert moved is not None and moved.login == f"name~{moved.id}"


def wait_for_a_lock_wait(runtime: Runtime, timeout: float = 10) -> None:
    """Until some PostgreSQL backend waits for a lock (the racing insert is blocked)."""
    deadline = time.monotonic() + timeout
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    with runtime.db.engine.connect() as watcher:
        while not watcher.execute(waiting).scalar():
            assert time.monotonic() < deadline, "the first request never waited"
            time.sleep(0.05)


def test_ensure_github_user_creates_once_and_leaves_the_profile_alone(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        created = users.ensure_github_user(session, profile(9, "bot", "Bot"))
    with runtime.db.session() as session:
        again = users.ensure_github_user(session, profile(9, "bot-renamed", "Other"))

    assert again.id == created.id
    assert (again.login, again.name) == ("bot", "Bot")


def test_usage_counts_complete_and_temporary_files_and_staged_chunks(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    ingest(runtime, owner, {"a.txt": b"x" * 10, "b.txt": b"x" * 10})  # one blob, two files
    upload_temporary(runtime, owner, [incoming("t.txt", b"y" * 5)])
    chunk = b"z" * 7
    sync.put_chunk(runtime, owner, sha256(chunk), io.BytesIO(chunk), len(chunk))
    ingest(runtime, stranger, {"a.txt": b"s" * 100})

    with runtime.db.session() as session:
        assert users.usage_bytes(session, owner) == 10 + 10 + 5 + 7
        assert users.usage_bytes(session, stranger) == 100


def test_a_users_own_quota_wins_over_the_default(runtime: Runtime) -> None:
    default = make_user(runtime, "default")
    own = make_user(runtime, "own", quota_bytes=50)
    unlimited = make_user(runtime, "unlimited", quota_bytes=0)

    assert users.quota_bytes(default, 1000) == 1000
    assert users.quota_bytes(default, 0) == 0
    assert users.quota_bytes(own, 1000) == 50
    assert users.quota_bytes(unlimited, 1000) == 0


def test_list_users_shows_every_user_with_files_and_bytes(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    ingest(runtime, owner, {"a.txt": b"x" * 3, "b.txt": b"y" * 4})

    with runtime.db.session() as session:
        rows = [(user.login, count, used) for user, count, used in users.list_users(session)]

    assert rows == [("olivia", 2, 7), ("sam", 0, 0)]
