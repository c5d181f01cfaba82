"""Settings: one pydantic object, built once in ``create_app`` and passed down.

Every setting lives here (the README and .env.example list them). Environment variables
(and a ``.env`` file when present) are read only by :func:`load_settings`; no other module
reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
    "K": 1024,
    "M": 1024**2,
    "G": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: object) -> int:
    """Turn ``16MB``, ``256MiB``, ``5GiB`` or a plain byte count into bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 16MB, 256MiB, 5GiB or a number of bytes")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = _SIZE_RE.match(str(value))
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"{value!r} is not a size such as 16MB, 256MiB, 5GiB or a number of bytes")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def _split_csv(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


Size = Annotated[int, BeforeValidator(parse_size)]
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]


class Settings(BaseSettings):
    """All configuration of the service."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=True,
    )

    SECRET_KEY: str | None = None
    GITHUB_CLIENT_ID: str | None = None
    GITHUB_CLIENT_SECRET: str | None = None
    GITHUB_URL: str = "https://github.com"
    GITHUB_API_URL: str = "https://api.github.com"
    GITHUB_ALLOWED_USERS: CsvList = Field(default_factory=list)
    GITHUB_ALLOWED_ORGS: CsvList = Field(default_factory=list)
    DATA_DIR: Path = Path("./data")
    DATABASE_URL: str | None = None
    STORAGE_URL: str | None = None
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str | None = None
    MAX_FILE_SIZE: Size = 5 * 1024**3
    MAX_JSON_UPLOAD_SIZE: Size = 64 * 1024**2
    USER_QUOTA: Size = 0
    TEMP_UPLOAD_TTL: int = Field(default=3600, ge=1)
    UPLOAD_SESSION_TTL: int = Field(default=86400, ge=1)
    SWEEP_INTERVAL: int = Field(default=60, ge=0)
    SIGNED_URL_MAX_AGE: int = Field(default=604800, ge=1)
    RATELIMIT_STORAGE_URI: str = "memory://"
    RATELIMIT_DEFAULT: str = "1200 per minute"
    RATELIMIT_ENABLED: bool = True
    # Prefix of the limiter's keys, so several deployments can share one Redis.
    RATELIMIT_KEY_PREFIX: str = "upload-service"
    TRUSTED_PROXIES: int = Field(default=0, ge=0)
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=0, le=65535)
    AUTO_MIGRATE: bool = True
    WORKERS: int = Field(default=2, ge=1)
    THREADS: int = Field(default=32, ge=1)
    GITHUB_TOKEN_CACHE_SECONDS: int = Field(default=300, ge=0)
    GITHUB_TIMEOUT: float = Field(default=10.0, gt=0)

    @field_validator("GITHUB_URL", "GITHUB_API_URL")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("STORAGE_URL")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("file:///", "s3://")):
            raise ValueError("must be file:///absolute/path or s3://bucket/prefix")
        if value.startswith("s3://") and not value[len("s3://") :].split("/", 1)[0]:
            raise ValueError("names no bucket: use s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        self.DATA_DIR = self.DATA_DIR.expanduser().resolve()
        if self.DATABASE_URL is None:
            self.DATABASE_URL = f"sqlite:///{self.DATA_DIR / 'upload-service.db'}"
        if self.STORAGE_URL is None:
            self.STORAGE_URL = f"file://{self.DATA_DIR / 'uploads'}"
        return self

    @property
    def database_url(self) -> str:
        assert self.DATABASE_URL is not None
        return self.DATABASE_URL

    @property
    def storage_url(self) -> str:
        assert self.STORAGE_URL is not None
        return self.STORAGE_URL

    @property
    def github_enabled(self) -> bool:
        return bool(self.GITHUB_CLIENT_ID and self.GITHUB_CLIENT_SECRET)

    @property
    def mode(self) -> str:
        return "github" if self.github_enabled else "local"


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming the variable."""


def load_settings(
    overrides: dict[str, Any] | None = None, env_file: str | None = ".env"
) -> Settings:
    """Build the settings from the environment, ``.env`` and explicit overrides."""
    try:
        settings = Settings(_env_file=env_file, **(overrides or {}))
    except ValidationError as exc:
        raise SettingsError(_first_error_line(exc)) from None
    settings.SECRET_KEY = settings.SECRET_KEY or _persistent_secret_key(settings.DATA_DIR)
    return settings


def _first_error_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"invalid setting {name}: {message}"


def _persistent_secret_key(data_dir: Path) -> str:
    """Read ``DATA_DIR/secret_key``, creating it (mode 0600) on first start."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
