"""One function per ``upload-client`` command: arguments in, results printed, errors raised.

Results go to stdout (a table, one line per action, or JSON with ``--json``); failures are
raised as :class:`ClientError` and turned into one line on stderr by :mod:`cli`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin

from upload_service.client.api import Api
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.output import files_table, local_time, print_json
from upload_service.client.remote import clean, folder_exists, join, looks_like_id, resolve_file
from upload_service.client.resumable import RESUMABLE_THRESHOLD, upload_resumable
from upload_service.client.transfer import (
    check_digest,
    download_file,
    open_local,
    part_path,
    upload_direct,
    upload_file,
    write_to_stdout,
)
from upload_service.schemas.files import FileOut, FolderMoveOut, FolderOut
from upload_service.schemas.units import human_size

# --temporary sends base64 JSON, bounded by the server's MAX_JSON_UPLOAD_SIZE (64 MiB unless
# configured otherwise). Refusing bigger batches here saves loading a large file into memory.
TEMPORARY_BODY_LIMIT = 64 * 1024 * 1024
Item = TypeVar("Item")
_DURATION = re.compile(r"(\d+)([smhdw]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


# --------------------------------------------------------------------------- ls / --list


def cmd_ls(api: Api, args: argparse.Namespace) -> None:
    """``ls [FOLDER]``: every file, or a folder's subfolders and files."""
    folder = None if args.folder is None else clean(args.folder)
    filtered = args.query is not None or args.category is not None
    subfolders = folder_listing(api, folder).folders if folder is not None else []
    files = list(
        api.iter_files(
            folder=folder,
            q=args.query,
            category=args.category,
            sort=args.sort,
            order="desc" if args.reverse else "asc",
        )
    )
    if wants_json(args):
        print_json(files)
    elif files or (subfolders and not filtered):
        print(files_table(files, [] if filtered else subfolders))


def folder_listing(api: Api, folder: str) -> FolderOut:
    try:
        return api.folder(folder)
    except ClientError as error:
        if error.exit_code == ExitCode.NOT_FOUND:
            raise error.with_message(f"no such folder on the server: {folder}") from None
        raise


def cmd_list_paths(api: Api, _args: argparse.Namespace) -> None:
    """The original ``--list``: every file's path, one a line."""
    for file in api.iter_files():
        print(file.path)


# --------------------------------------------------------------------------- put / --upload


def cmd_put(api: Api, args: argparse.Namespace) -> ExitCode:
    """``put LOCAL [REMOTE]`` and ``put LOCAL... --to FOLDER``."""
    targets = put_targets(args.paths, args.to)
    if args.temporary and args.direct:
        raise ClientError("--direct and --temporary cannot be combined", ExitCode.USAGE)
    if args.resume and (args.temporary or args.direct):
        other = "--temporary" if args.temporary else "--direct"
        raise ClientError(f"--resume and {other} cannot be combined", ExitCode.USAGE)
    if args.temporary:
        put_temporary(api, targets, as_json=wants_json(args))
        return ExitCode.OK
    on_conflict = "replace" if args.replace else "rename" if args.rename else "error"
    stored: list[FileOut] = []

    def upload(target: tuple[Path, str]) -> None:
        local, remote = target
        try:
            if args.direct:
                file, created = upload_direct(api, local, remote, on_conflict), True
            elif args.resume or is_big(local):
                file, created = upload_resumable(
                    api, local, remote, on_conflict, resume=args.resume
                )
            else:
                file, created = upload_file(api, local, remote, on_conflict)
        except ClientError as error:
            raise explain_put_error(error, remote) from error
        stored.append(file)
        if not wants_json(args):
            verb = "uploaded" if created else "replaced"
            print(f"{verb} {local} -> {file.path} ({human_size(file.size)}, id {file.id})")

    status = for_each(targets, upload)
    if wants_json(args) and (args.to is not None or stored):
        print_json(stored if args.to is not None else stored[0])
    return status


def is_big(local: Path) -> bool:
    """Big enough to go up resumably (tus); a missing file is reported by the upload itself."""
    try:
        return local.stat().st_size >= RESUMABLE_THRESHOLD
    except OSError:
        return False


def put_targets(paths: Sequence[str], to: str | None) -> list[tuple[Path, str]]:
    """Each local file and the remote path it goes to, as the README says."""
    if to is not None:
        return [(Path(p), join(to, Path(p).name)) for p in paths]
    if len(paths) > 2:
        raise ClientError(
            "to upload several files, name their folder with --to FOLDER", ExitCode.USAGE
        )
    local = Path(paths[0])
    if len(paths) == 1:
        return [(local, local.name)]
    remote = paths[1]
    if remote.endswith("/") or not clean(remote):
        return [(local, join(remote, local.name))]
    return [(local, clean(remote))]


def explain_put_error(error: ClientError, remote: str) -> ClientError:
    """The server's refusal of an upload, with what the user can do about it."""
    if error.code == "path_exists":
        return error.with_message(
            f"{remote} already exists on the server (use --replace or --rename)"
        )
    if error.code == "folder_exists":
        return error.with_message(
            f"{remote} is a folder on the server (end REMOTE with / to upload into it)"
        )
    if error.status == 413:
        limit = _detail(error, "max_size")
        where = f" of {human_size(limit)}" if limit is not None else ""
        return error.with_message(f"{remote} is larger than the server's limit{where}")
    if error.status == 507:
        left = _detail(error, "available")
        free = f" ({human_size(left)} left)" if left is not None else ""
        return error.with_message(f"{remote} does not fit in your storage quota{free}")
    return error


def _detail(error: ClientError, key: str) -> int | None:
    for item in error.details:
        if isinstance(item, dict) and isinstance(item.get(key), int):
            return int(item[key])
    return None


def put_temporary(api: Api, targets: list[tuple[Path, str]], *, as_json: bool) -> None:
    """``put --temporary``: the original base64 JSON temporary upload, one token for all."""
    encoded = sum((local_size(local) + 2) // 3 * 4 for local, _ in targets)
    if encoded > TEMPORARY_BODY_LIMIT:
        raise ClientError(
            "--temporary sends base64 JSON, limited to 64 MiB per request (files up to about "
            "48 MiB); upload big files without --temporary",
            ExitCode.TOO_LARGE,
        )
    items, digests = [], []
    for local, remote in targets:
        folder, _, name = remote.rpartition("/")
        file, _size = open_local(local)
        with file:
            data = file.read()
        items.append({"filename": name, "folder": folder, "content": b64(data)})
        digests.append(hashlib.sha256(data).hexdigest())
    try:
        result = api.upload_temporary(items)
    except ClientError as error:
        raise explain_put_error(error, ", ".join(remote for _, remote in targets)) from error
    for file_out, digest in zip(result.files, digests, strict=True):
        check_digest(digest, file_out.sha256, f"temporary upload of {file_out.name}")
    if as_json:
        print_json(result)
        return
    for file_out in result.files:
        until = local_time(file_out.expires_at) if file_out.expires_at else "?"
        size = human_size(file_out.size)
        print(f"uploaded {file_out.path} as a temporary file ({size}), kept until {until}")
    print(result.token)  # last line, alone: what a script picks up


def local_size(local: Path) -> int:
    file, size = open_local(local)
    file.close()
    return size


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def cmd_upload_flag(api: Api, args: argparse.Namespace) -> ExitCode:
    """The original ``--upload FILE``: ``put FILE`` to the root folder."""
    put_args = argparse.Namespace(
        paths=[args.upload],
        to=None,
        temporary=False,
        direct=False,
        resume=False,
        replace=False,
        rename=False,
        json=wants_json(args),
    )
    return cmd_put(api, put_args)


# --------------------------------------------------------------------------- get


def cmd_get(api: Api, args: argparse.Namespace) -> None:
    """``get REMOTE [LOCAL]`` / ``get REMOTE -o LOCAL``; ``-`` writes to stdout."""
    if args.local is not None and args.output is not None:
        raise ClientError("give LOCAL or -o LOCAL, not both", ExitCode.USAGE)
    file = resolve_file(api, args.remote)
    local = args.output if args.output is not None else args.local
    if local == "-":
        write_to_stdout(api, file)
        return
    dest = destination(local, file.name)
    if dest.exists() and not args.force:
        raise ClientError(f"{dest} exists already (use --force to overwrite it)", ExitCode.CONFLICT)
    try:
        resumed = download_file(api, file, dest)
    except KeyboardInterrupt:
        raise ClientError(
            f"interrupted; {part_path(dest)} keeps what arrived: run the same command to resume",
            ExitCode.INTERRUPTED,
        ) from None
    if wants_json(args):
        print_json({"local": str(dest), "file": file})
    else:
        how = " (resumed)" if resumed else ""
        print(f"downloaded {file.path} -> {dest} ({human_size(file.size)}){how}")


def destination(local: str | None, name: str) -> Path:
    """Where ``get`` writes: LOCAL, or the file's name in LOCAL (a folder) or in the cwd."""
    safe = Path(name).name
    if safe in ("", ".", "..") or safe != name:
        raise ClientError(f"refusing to write a file named {name!r}")
    dest = Path(local) if local else Path(safe)
    if dest.is_dir() or (local and local.endswith(("/", os.sep))):
        dest = dest / safe
    if not dest.parent.is_dir():
        raise ClientError(f"no such local folder: {dest.parent}", ExitCode.NOT_FOUND)
    return dest


# --------------------------------------------------------------------------- rm / --delete


def cmd_rm(api: Api, args: argparse.Namespace) -> ExitCode:
    """``rm REMOTE... [--recursive]``: files by path or id, folders by path."""
    deleted: list[str] = []

    def remove(remote: str) -> None:
        path = delete_remote(api, remote, recursive=args.recursive)
        deleted.append(path)
        if not wants_json(args):
            print(f"deleted {path}")

    status = for_each(args.remotes, remove)
    if wants_json(args):
        print_json({"deleted": deleted})
    return status


def delete_remote(api: Api, remote: str, *, recursive: bool) -> str:
    """Delete a file or folder by path, or a file by id; the path that was removed."""
    path = clean(remote)
    if not path:
        raise ClientError("refusing to delete the root folder", ExitCode.USAGE)
    try:
        api.delete_path(path, recursive=recursive)
        return path
    except ClientError as error:
        if error.code == "folder_not_empty":
            raise error.with_message(
                f"{path} is a folder with files in it (use --recursive)"
            ) from None
        if error.exit_code != ExitCode.NOT_FOUND:
            raise error.with_message(f"cannot delete {path}: {error.message}") from None
        if not looks_like_id(path):
            raise error.with_message(f"no such file or folder on the server: {path}") from None
        try:
            file = api.file_by_id(path)
            api.delete_id(path, if_match=file.sha256)
        except ClientError as by_id:
            if by_id.exit_code != ExitCode.NOT_FOUND:
                raise
            raise error.with_message(f"no such file or folder on the server: {path}") from None
        return file.path


def cmd_delete_flag(api: Api, args: argparse.Namespace) -> ExitCode:
    """The original ``--delete NAME``."""
    rm_args = argparse.Namespace(remotes=[args.delete], recursive=False, json=wants_json(args))
    return cmd_rm(api, rm_args)


# --------------------------------------------------------------------------- mv, mkdir, link


def cmd_mv(api: Api, args: argparse.Namespace) -> None:
    """``mv FROM TO``: rename or move a file (path or id) or a folder; TO may be a folder."""
    source = clean(args.source)
    if not source:
        raise ClientError("refusing to move the root folder", ExitCode.USAGE)
    into = (
        args.target.endswith("/")
        or not clean(args.target)
        or folder_exists(api, clean(args.target))
    )
    target = join(args.target, source.rpartition("/")[2]) if into else clean(args.target)
    try:
        result = api.move(source, target).root
    except ClientError as error:
        if error.exit_code != ExitCode.NOT_FOUND:
            raise error.with_message(f"cannot move {source}: {error.message}") from None
        if not looks_like_id(source):
            raise error.with_message(f"no such file or folder on the server: {source}") from None
        result = move_by_id(api, source, args.target if into else None, target)
    if wants_json(args):
        print_json(result)
    elif isinstance(result, FolderMoveOut):
        print(f"moved folder {source} -> {result.folder} ({result.moved} files)")
    else:
        print(f"moved {source} -> {result.path}")


def move_by_id(api: Api, file_id: str, into: str | None, target: str) -> FileOut:
    """``mv ID TO``: the file with that id, into the folder ``into`` or to ``target``."""
    try:
        file = api.file_by_id(file_id)
    except ClientError as error:
        if error.exit_code == ExitCode.NOT_FOUND:
            raise error.with_message(f"no such file or folder on the server: {file_id}") from None
        raise
    return api.move_id(file_id, join(into, file.name) if into is not None else target)


def cmd_mkdir(api: Api, args: argparse.Namespace) -> None:
    """``mkdir PATH``: like ``mkdir -p``."""
    path = clean(args.path)
    if not path:
        raise ClientError("the root folder always exists", ExitCode.USAGE)
    folder = api.mkdir(path)
    if wants_json(args):
        print_json(folder)
    else:
        print(f"{'created folder' if folder.created else 'folder already exists:'} {folder.path}")


def cmd_link(api: Api, args: argparse.Namespace) -> None:
    """``link REMOTE [--expires 1h]``: one absolute URL that needs no credentials."""
    seconds = parse_duration(args.expires)
    file = resolve_file(api, args.remote)
    link = api.link(file.id, seconds)
    link.url = urljoin(api.base + "/", link.url)
    if wants_json(args):
        print_json(link)
    else:
        print(link.url)


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``1h``, ``7d``, ``1w`` in seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) < 1:
        raise ClientError(f"not a duration: {text!r} (e.g. 30m, 1h, 7d)", ExitCode.USAGE)
    return int(match.group(1)) * _SECONDS[match.group(2)]


# --------------------------------------------------------------------------- shared


def for_each(items: Sequence[Item], action: Callable[[Item], None]) -> ExitCode:
    """Run ``action`` on every item; report each failure on one line and keep going.

    Returns the exit code of the first failure (OK when all succeeded).
    """
    status = ExitCode.OK
    for item in items:
        try:
            action(item)
        except ClientError as error:
            if len(items) == 1:
                raise
            print(f"upload-client: {error.message}", file=sys.stderr)
            status = status or error.exit_code
    return status
