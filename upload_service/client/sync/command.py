"""``upload-client sync DIR [--remote FOLDER] [--watch]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from upload_service.client.api import Api
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.remote import clean
from upload_service.client.sync.engine import Summary, Syncer
from upload_service.client.sync.state import SyncState, state_file

# One-shot: files written to while they were read are tried again this often, this long apart.
BUSY_RETRIES = 3
BUSY_WAIT = 1.0


def cmd_sync(api: Api, args: argparse.Namespace) -> ExitCode:
    root = Path(args.directory)
    if not root.is_dir():
        raise ClientError(f"no such local folder: {args.directory}", ExitCode.NOT_FOUND)
    remote = clean(args.remote if args.remote is not None else root.resolve().name)
    state = SyncState(state_file(api.base, remote, root))
    syncer = Syncer(api, root, remote, state)
    try:
        if args.watch:
            from upload_service.client.sync.watch import watch

            watch(syncer, _print)
            return ExitCode.OK
        summary = _one_shot(syncer)
    finally:
        syncer.close()
        state.close()
    _print(summary)
    _raise_for_failures(summary)
    return ExitCode.OK


def _one_shot(syncer: Syncer) -> Summary:
    total = syncer.run_pass()
    for _ in range(BUSY_RETRIES):
        if not total.waiting:
            break
        time.sleep(BUSY_WAIT)
        total.waiting.clear()
        total.add(syncer.run_pass())
    return total


def _print(summary: Summary) -> None:
    print(summary.line(), flush=True)


def _raise_for_failures(summary: Summary) -> None:
    problems = len(summary.failed) + len(summary.waiting)
    if not problems:
        return
    if summary.failed:
        path, error = summary.failed[0]
        first, code = f"{path}: {error.message}", error.exit_code
    else:
        first, code = f"{summary.waiting[0]}: it kept changing while it was read", ExitCode.ERROR
    more = f" (and {problems - 1} more)" if problems > 1 else ""
    raise ClientError(f"could not sync {first}{more}", code)
