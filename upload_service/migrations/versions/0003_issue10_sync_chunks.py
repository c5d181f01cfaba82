"""Staged sync chunks (uploaded by the sync client, not yet part of a file).

Revision ID: 0003_issue10_sync_chunks
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_issue10_sync_chunks"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_chunks",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_sync_chunks_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_id", "sha256", name=op.f("pk_sync_chunks")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_sync_chunks_storage_key")),
    )
    with op.batch_alter_table("sync_chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_chunks_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_chunks_created_at"))
    op.drop_table("sync_chunks")
