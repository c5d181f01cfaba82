"""Identifiers that users type."""

from __future__ import annotations

from upload_service.models import new_public_id


def test_public_ids_never_start_with_a_dash() -> None:
    # a leading "-" would be read as an option by `upload-service token revoke ID` and the client
    ids = [new_public_id() for _ in range(20_000)]
    assert not [value for value in ids if value.startswith("-")]
    assert len(set(ids)) == len(ids)
