"""Request and response models of the sync API (they also generate OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from upload_service.schemas.files import FileOut

# The chunking is part of the protocol: client and server must cut files the same way.
# FastCDC 2020 (pyfastcdc, normalization level 1), chunk ids are SHA-256 hex digests.
CHUNKER = "fastcdc2020-256k-1m-4m-sha256"
MIN_CHUNK = 256 * 1024
AVG_CHUNK = 1024 * 1024
MAX_CHUNK = 4 * 1024 * 1024


class SyncPrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)
    mtime: float | None = None
    chunker: str
    chunks: list[tuple[str, int]]
    base_sha256: str | None = None


class SyncPrepareOut(BaseModel):
    upload_id: str | None = None
    missing: list[str] | None = None
    unchanged: bool | None = None
    file: FileOut | None = None


class SyncChunkOut(BaseModel):
    success: Literal[True] = True
    sha256: str
    stored: bool  # False when you already had this chunk


class SyncCommitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(min_length=1)


class SyncManifestQuery(BaseModel):
    folder: str = ""


class ManifestFile(BaseModel):
    path: str
    size: int
    sha256: str
    mtime: float | None


class SyncManifestOut(BaseModel):
    folder: str
    files: list[ManifestFile]
    folders: list[str]
