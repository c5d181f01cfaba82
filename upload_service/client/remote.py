"""REMOTE arguments: a path on the server, or a file id.

A REMOTE is first taken as a path. Only when nothing lives at that path and the value looks like
a file id (22 characters of ``A-Z a-z 0-9 _ -``, no ``/``) is it taken as an id. So a file whose
name happens to look like an id is still found by its name.
"""

from __future__ import annotations

import re
import unicodedata

from upload_service.client.api import Api
from upload_service.client.errors import ClientError, ExitCode
from upload_service.schemas.files import FileOut

_FILE_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def clean(remote: str) -> str:
    """A user's path as the API writes it: NFC, no leading or trailing ``/``."""
    return unicodedata.normalize("NFC", remote).strip().strip("/")


def looks_like_id(remote: str) -> bool:
    return _FILE_ID.fullmatch(remote) is not None


def resolve_file(api: Api, remote: str) -> FileOut:
    """The file named by ``remote`` (path first, then id); a clear error when it is none."""
    path = clean(remote)
    if not path:
        raise ClientError("the root folder is not a file", ExitCode.USAGE)
    found = api.file_at(path)
    if found is not None:
        return found
    if looks_like_id(path):
        try:
            return api.file_by_id(path)
        except ClientError as error:
            if error.exit_code != ExitCode.NOT_FOUND:
                raise
    if folder_exists(api, path):
        raise ClientError(f"{path} is a folder, not a file", ExitCode.USAGE)
    raise ClientError(f"no such file on the server: {path}", ExitCode.NOT_FOUND)


def folder_exists(api: Api, path: str) -> bool:
    try:
        api.folder(path)
    except ClientError as error:
        if error.exit_code == ExitCode.NOT_FOUND:
            return False
        raise
    return True


def join(folder: str, name: str) -> str:
    folder = clean(folder)
    return f"{folder}/{name}" if folder else name
