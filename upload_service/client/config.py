"""Where the server is and which token to send.

``UPLOAD_SERVICE_URL`` and ``UPLOAD_SERVICE_TOKEN`` win; otherwise the values saved by
``upload-client login`` in the user's config directory (a JSON file readable by its owner only).
A saved token is only ever sent to the URL it was saved with.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from upload_service.client.errors import ClientError, ExitCode

URL_VARIABLE = "UPLOAD_SERVICE_URL"
TOKEN_VARIABLE = "UPLOAD_SERVICE_TOKEN"  # noqa: S105 (a variable name)
APP_NAME = "upload-service"
CONFIG_NAME = "client.json"


@dataclass(frozen=True)
class Config:
    url: str
    token: str


def config_path() -> Path:
    """The file ``upload-client login`` writes."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_NAME


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """The URL and token in effect; a clear error when either is missing."""
    environ = os.environ if environ is None else environ
    saved = read_saved_config()
    url = environ.get(URL_VARIABLE) or saved.get("url") or ""
    token = environ.get(TOKEN_VARIABLE) or ""
    if not token and saved.get("url") == url:
        token = saved.get("token") or ""
    if not url:  # configuration, not credentials: a usage error, as the README says
        raise ClientError(_missing(url, saved.get("url")), ExitCode.USAGE)
    if not token:
        raise ClientError(_missing(url, saved.get("url")), ExitCode.AUTH)
    return Config(url=check_url(url), token=token)


def _missing(url: str, saved_url: str | None) -> str:
    how = f"set {URL_VARIABLE} and {TOKEN_VARIABLE}, or run `upload-client login`"
    if not url:
        return f"no server configured: {how}"
    if saved_url:
        return f"no token for {url} (the saved one is for {saved_url}): {how}"
    return f"no token configured: {how}"


def check_url(url: str) -> str:
    """``url`` without a trailing slash; a usage error unless it is http(s)://host[...]."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ClientError(
            f"not a server URL: {url!r} (expected e.g. http://127.0.0.1:8000)", ExitCode.USAGE
        )
    return url.strip().rstrip("/")


def read_saved_config() -> dict[str, str]:
    """What ``login`` saved, or nothing when there is no (readable) file."""
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {config_path()}: {exc}", ExitCode.USAGE) from exc
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str)}


def save_config(config: Config) -> Path:
    """Write ``config`` atomically with mode 0600 (its folder 0700); returns the file."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"url": config.url, "token": config.token}, indent=2) + "\n"
    # mkstemp creates the file with mode 0600 before a byte of the token is written
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".client-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
