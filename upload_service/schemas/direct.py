"""Request and response models of signed direct uploads (they also generate OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from upload_service.schemas.common import UtcDateTime
from upload_service.schemas.files import OnConflict

UploadState = Literal["pending", "complete", "expired", "failed"]


class SignedUploadForm(BaseModel):
    """The form of ``POST /api/signed-uploads/{token}``."""

    file: bytes = Field(description="The file, exactly the declared size.")


class DirectUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1024, description="Where the file will live.")
    size: int = Field(ge=0, description="The exact size in bytes; the URL accepts no other.")
    sha256: str | None = Field(
        default=None,
        pattern="^[0-9a-fA-F]{64}$",
        description="When given, completion fails (422) unless the bytes hash to it.",
    )
    content_type: str | None = Field(default=None, max_length=255)
    expires_in: int = Field(
        default=3600, ge=1, description="Seconds the URL works; at most `SIGNED_URL_MAX_AGE`."
    )
    on_conflict: OnConflict = Field(
        default="error", description="At completion, when the path exists."
    )


class DirectUploadOut(BaseModel):
    upload_id: str
    method: Literal["POST", "PUT"] = Field(
        description="`POST`: a multipart form of `fields` plus the `file` part (S3). "
        "`PUT`: the raw bytes with `headers` (local storage)."
    )
    url: str
    headers: dict[str, str]
    fields: dict[str, str]
    expires_at: UtcDateTime = Field(description="When the URL stops working.")


class DirectUploadStatus(BaseModel):
    upload_id: str
    state: UploadState
    path: str
    size: int
    expires_at: UtcDateTime = Field(description="When an unfinished session is swept.")
