"""The listing benchmark's database: files of one user, inserted before the server starts.

A fresh database is migrated, then gets one shared blob (stored in the blob store), ``count``
complete files spread over ``projects/pNN/partNN`` and their folder rows, then ``ANALYZE``.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upload_service.models import Blob

WORDS = [
    "report",
    "invoice",
    "photo",
    "notes",
    "backup",
    "draft",
    "scan",
    "slides",
    "budget",
    "contract",
]
EXTS = ["pdf", "jpg", "txt", "zip", "py", "md", "png", "csv", "mp3", "docx"]
TOP_FOLDERS, SUB_FOLDERS = 10, 10
BLOB_KEY = "blobs/bench-shared-blob"
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 10_000


def seeded_name(i: int) -> tuple[str, str]:
    """(folder, name) of seeded file number ``i``."""
    folder = f"projects/p{i % TOP_FOLDERS:02d}/part{(i // TOP_FOLDERS) % SUB_FOLDERS:02d}"
    return folder, f"{WORDS[i % len(WORDS)]}-{i:06d}.{EXTS[(i // 7) % len(EXTS)]}"


def seed_files(data_dir: Path, count: int) -> None:
    """Migrate, then insert ``count`` complete files sharing one blob, plus their folders."""
    from sqlalchemy import insert

    from upload_service.db import Database
    from upload_service.models import Blob, File, Folder
    from upload_service.services.users import ensure_local_user
    from upload_service.storage.local import LocalBlobStore

    stored = LocalBlobStore(data_dir / "uploads").put(BLOB_KEY, io.BytesIO(b"benchmark content\n"))
    database = Database(f"sqlite:///{data_dir / 'upload-service.db'}")
    try:
        database.upgrade()
        with database.session() as session:
            owner = ensure_local_user(session)
            blob = Blob(
                owner_id=owner.id,
                sha256=stored.sha256,
                size=stored.size,
                storage_key=BLOB_KEY,
                created_at=BASE_TIME,
                last_used_at=BASE_TIME,
            )
            session.add(blob)
            session.flush()
            rows = [file_row(i, owner.id, blob) for i in range(count)]
            for start in range(0, len(rows), BATCH):
                session.execute(insert(File), rows[start : start + BATCH])
            folders = [
                {"owner_id": owner.id, "path": p, "created_at": BASE_TIME}
                for p in folder_paths(count)
            ]
            session.execute(insert(Folder), folders)
        with database.engine.connect() as connection:  # what a long-running DB would have
            connection.exec_driver_sql("ANALYZE")
    finally:
        database.dispose()


def file_row(i: int, owner_id: int, blob: Blob) -> dict[str, object]:
    """The ``files`` row of seeded file ``i``: complete, its bytes in the shared ``blob``."""
    from upload_service.models import new_public_id
    from upload_service.services.categories import category_for, guess_content_type

    folder, name = seeded_name(i)
    content_type = guess_content_type(name)
    when = BASE_TIME + timedelta(seconds=i)
    return {
        "id": new_public_id(),
        "owner_id": owner_id,
        "path": f"{folder}/{name}",
        "folder": folder,
        "name": name,
        "size": blob.size,
        "content_type": content_type,
        "category": category_for(content_type, name),
        "sha256": blob.sha256,
        "blob_id": blob.id,
        "state": "complete",
        "description": "",
        "created_at": when,
        "updated_at": when,
    }


def folder_paths(count: int) -> list[str]:
    """Every folder the first ``count`` seeded files need, parents included, sorted."""
    from upload_service.services.paths import ancestors

    folders: set[str] = set()
    for i in range(count):
        folders.update(ancestors(seeded_name(i)[0]))
    return sorted(folders)
