"""Indexes for keyset pagination of file listings and path search.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_files_list_name": ["owner_id", "state", "name", "id", "path"],
    "ix_files_list_size": ["owner_id", "state", "size", "id"],
    "ix_files_list_created": ["owner_id", "state", "created_at", "id"],
    "ix_files_list_updated": ["owner_id", "state", "updated_at", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("files") as batch_op:
        batch_op.drop_index("ix_files_owner_created")
        for name, columns in _INDEXES.items():
            batch_op.create_index(name, columns)


def downgrade() -> None:
    with op.batch_alter_table("files") as batch_op:
        for name in _INDEXES:
            batch_op.drop_index(name)
        batch_op.create_index("ix_files_owner_created", ["owner_id", "created_at", "id"])
