"""Request and response models of the upload and file APIs (they also generate OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel

from upload_service.schemas.common import UtcDateTime

OnConflict = Literal["error", "replace", "rename"]
Sha256Hex = str


FILE_EXAMPLE: dict[str, JsonValue] = {
    "id": "Vx3kq9fTzQ",
    "path": "docs/report.pdf",
    "name": "report.pdf",
    "folder": "docs",
    "size": 48213,
    "content_type": "application/pdf",
    "category": "documents",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "state": "complete",
    "description": "",
    "created_at": "2026-03-01T09:30:00Z",
    "updated_at": "2026-03-01T09:30:00Z",
    "expires_at": None,
    "download_url": "https://uploads.example.org/api/files/Vx3kq9fTzQ/content",
}


class FileOut(BaseModel):
    """A file as the API shows it."""

    model_config = ConfigDict(json_schema_extra={"examples": [FILE_EXAMPLE]})

    id: str
    path: str
    name: str
    folder: str
    size: int
    content_type: str
    category: str
    sha256: str
    state: Literal["temporary", "complete"]
    description: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    expires_at: UtcDateTime | None = None
    download_url: str


class FilesOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"success": True, "files": [FILE_EXAMPLE]}]}
    )

    success: Literal[True] = True
    files: list[FileOut]


class TemporaryUploadOut(BaseModel):
    success: Literal[True] = True
    token: str
    expires_at: UtcDateTime
    files: list[FileOut]


class FileOutEnvelope(BaseModel):
    success: Literal[True] = True
    file: FileOut


class FileList(BaseModel):
    items: list[FileOut]
    next_cursor: str | None


class Base64File(BaseModel):
    """One item of the original ``PUT /api/upload`` body."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=1024)
    content: str
    folder: str | None = Field(default=None, max_length=1024)


class Base64Batch(BaseModel):
    items: list[Base64File] = Field(min_length=1, max_length=1000)


class MultipartUpload(BaseModel):
    """The form of ``POST /api/files`` (the view reads ``request.files`` and ``request.form``)."""

    file: list[bytes] = Field(min_length=1, description="One or more files (parts named `file`).")
    folder: str | None = Field(default=None, max_length=1024)
    description: str | None = Field(default=None, max_length=2000)
    on_conflict: OnConflict = "error"


class PersistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str | None = Field(default=None, max_length=1024)
    description: str | None = Field(default=None, max_length=2000)
    on_conflict: OnConflict | None = None


class FileListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(default=None, max_length=1024)
    category: Literal["image", "video", "audio", "document", "archive", "code", "other"] | None = (
        None
    )
    folder: str | None = Field(default=None, max_length=1024)
    recursive: bool = False
    sort: Literal["name", "path", "size", "created_at", "updated_at"] = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=4096)


class FilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, min_length=1, max_length=1024)
    description: str | None = Field(default=None, max_length=2000)


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", min_length=1, max_length=1024)
    to: str = Field(min_length=1, max_length=1024)
    if_match: str | None = Field(default=None, max_length=80)


class FolderMoveOut(BaseModel):
    success: Literal[True] = True
    folder: str
    moved: int


class MoveOut(RootModel[FileOut | FolderMoveOut]):
    """The moved file (a ``FileOut``), or the moved folder and how many files moved with it."""


class FolderOut(BaseModel):
    success: Literal[True] = True
    path: str
    created: bool
    folders: list[str] = []


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: int = Field(default=3600, ge=1)


class LinkOut(BaseModel):
    url: str
    expires_at: UtcDateTime
