"""services.tokens: API tokens are shown once, stored hashed, revocable and may expire."""

from __future__ import annotations

import pytest

from tests.services.helpers import ago, sha256, update_row
from upload_service.errors import NotFound
from upload_service.models import ApiToken, User
from upload_service.runtime import Runtime
from upload_service.services import tokens


def new_token(runtime: Runtime, user: User, name: str = "ci", **kw: int) -> tuple[str, str]:
    """A fresh token of ``user``: its id and plaintext."""
    with runtime.db.session() as session:
        row, plaintext = tokens.create_api_token(session, user, name, **kw)
        return row.id, plaintext


def owner_of(runtime: Runtime, plaintext: str) -> int | None:
    with runtime.db.session() as session:
        user = tokens.authenticate_api_token(session, plaintext)
        return user.id if user is not None else None


def row(runtime: Runtime, token_id: str) -> ApiToken:
    with runtime.db.session() as session:
        return session.get_one(ApiToken, token_id)


def test_a_token_is_stored_only_as_its_hash_and_verifies(runtime: Runtime, owner: User) -> None:
    token_id, plaintext = new_token(runtime, owner)

    stored = row(runtime, token_id)
    assert tokens.looks_like_api_token(plaintext)
    assert plaintext not in (stored.token_hash, stored.prefix)
    assert stored.token_hash == sha256(plaintext.encode())
    assert plaintext.startswith(stored.prefix)
    assert owner_of(runtime, plaintext) == owner.id
    assert row(runtime, token_id).last_used_at is not None


def test_unknown_or_altered_tokens_verify_as_nobody(runtime: Runtime, owner: User) -> None:
    _id, plaintext = new_token(runtime, owner)

    for wrong in (plaintext[:-1], plaintext + "x", "us_" + "a" * 43, ""):
        assert owner_of(runtime, wrong) is None


def test_a_revoked_token_stops_working_and_keeps_its_first_revocation(
    runtime: Runtime, owner: User
) -> None:
    token_id, plaintext = new_token(runtime, owner)

    with runtime.db.session() as session:
        first = tokens.revoke_api_token(session, owner, token_id).revoked_at
    with runtime.db.session() as session:
        again = tokens.revoke_api_token_by_id(session, token_id).revoked_at

    assert first is not None and again == first
    assert owner_of(runtime, plaintext) is None
    assert tokens.token_state(row(runtime, token_id)) == "revoked"


def test_a_token_works_until_it_expires(runtime: Runtime, owner: User) -> None:
    token_id, plaintext = new_token(runtime, owner, expires_in=3600)
    forever_id, forever = new_token(runtime, owner, "forever")

    assert owner_of(runtime, plaintext) == owner.id
    assert tokens.token_state(row(runtime, token_id)) == "active"
    update_row(runtime, ApiToken, token_id, expires_at=ago(1))

    assert owner_of(runtime, plaintext) is None
    assert tokens.token_state(row(runtime, token_id)) == "expired"
    assert row(runtime, forever_id).expires_at is None
    assert owner_of(runtime, forever) == owner.id


def test_use_is_recorded_at_most_once_a_minute(runtime: Runtime, owner: User) -> None:
    token_id, plaintext = new_token(runtime, owner)
    owner_of(runtime, plaintext)
    first = row(runtime, token_id).last_used_at

    owner_of(runtime, plaintext)
    assert row(runtime, token_id).last_used_at == first

    update_row(runtime, ApiToken, token_id, last_used_at=ago(120))
    owner_of(runtime, plaintext)
    later = row(runtime, token_id).last_used_at
    assert first is not None and later is not None and later > first


def test_users_see_and_revoke_only_their_own_tokens(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    mine, plaintext = new_token(runtime, owner, "mine")
    theirs, _ = new_token(runtime, stranger, "theirs")

    with runtime.db.session() as session:
        assert [t.name for t in tokens.list_api_tokens(session, owner)] == ["mine"]
        with pytest.raises(NotFound):
            tokens.get_api_token(session, stranger, mine)
        with pytest.raises(NotFound):
            tokens.revoke_api_token(session, stranger, mine)
        with pytest.raises(NotFound):
            tokens.revoke_api_token_by_id(session, "no-such-token")
        everyone = tokens.list_all_api_tokens(session)
        assert {(t.id, t.user.login) for t in everyone} == {(mine, "olivia"), (theirs, "sam")}
        assert [t.id for t in tokens.list_all_api_tokens(session, stranger)] == [theirs]

    assert owner_of(runtime, plaintext) == owner.id
