"""``upload-client``: its command line (README), and the original file server's flags.

upload-client ls [FOLDER] [--query Q] [--category C] [--sort S] [--json]
upload-client put LOCAL [REMOTE] | put LOCAL... --to FOLDER  [--replace|--rename|--temporary]
upload-client get REMOTE [LOCAL] [-o LOCAL]
upload-client rm REMOTE... [--recursive]
upload-client mv FROM TO
upload-client mkdir PATH
upload-client link REMOTE [--expires 1h]
upload-client sync DIR [--remote FOLDER] [--watch]
upload-client login [--url URL] [--token TOKEN]
upload-client --list | --upload FILE | --delete NAME
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from upload_service.client import commands
from upload_service.client.api import Api
from upload_service.client.config import TOKEN_VARIABLE, load_config
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.login import cmd_login

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

PROG = "upload-client"
Command = Callable[[Api, argparse.Namespace], ExitCode | None]

EXIT_CODES = """\
exit status:
  0 success                          5 conflict: the path is taken, or it changed
  1 any other error                  6 too large, or over the quota
  2 usage or configuration error     7 server unreachable or unavailable
  3 not found (remote or local)      8 SHA-256 mismatch (corrupt transfer)
  4 no token, refused or forbidden 130 interrupted

REMOTE is a path on the server (folders separated by /) or a file id.
Configuration: UPLOAD_SERVICE_URL and UPLOAD_SERVICE_TOKEN, else `upload-client login`.
"""

SORT_KEYS = ("path", "name", "size", "created_at", "updated_at")
CATEGORIES = ("image", "video", "audio", "document", "archive", "code", "other")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``upload-client`` console script."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command and return the exit status; errors become one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        return int(dispatch(parser, args) or ExitCode.OK)
    except ClientError as error:
        return fail(error.message, error.exit_code, debug)
    except KeyboardInterrupt:
        return fail("interrupted", ExitCode.INTERRUPTED, debug)
    except BrokenPipeError:
        # the reader went away (e.g. `upload-client -l | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.ERROR
    except Exception as exc:
        if debug:
            raise
        return fail(f"unexpected error: {exc!r} (run with --debug for details)", ExitCode.ERROR)


def fail(message: str, code: ExitCode, debug: bool = False) -> int:
    if debug:
        traceback.print_exc()
    print(f"{PROG}: {message}", file=sys.stderr)
    return int(code)


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ExitCode | None:
    flags = [name for name in ("list", "upload", "delete") if getattr(args, name)]
    if args.command and flags:
        parser.error(f"use either a command or --{flags[0]}, not both")
    if args.command == "login":
        cmd_login(args)
        return ExitCode.OK
    command = args.handler if args.command else _flag_command(args)
    if command is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    api = Api(load_config(), debug=bool(getattr(args, "debug", False)))
    try:
        return command(api, args)
    except ClientError as error:
        if error.status == 401:
            hint = f"check {TOKEN_VARIABLE}, or run `{PROG} login`"
            raise error.with_message(f"{error.message} ({hint})") from None
        raise
    finally:
        api.close()


def _flag_command(args: argparse.Namespace) -> Command | None:
    if args.list:
        return commands.cmd_list_paths
    if args.upload:
        return commands.cmd_upload_flag
    if args.delete:
        return commands.cmd_delete_flag
    return None


# --------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options, the original flags and the subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not undo the same option given before it
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log each request and show tracebacks",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="List, upload, download and share files on an Upload Service server.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=ShowVersion)
    original = parser.add_argument_group("the original file server's flags")
    exclusive = original.add_mutually_exclusive_group()
    exclusive.add_argument("-l", "--list", action="store_true", help="print every file's path")
    exclusive.add_argument("-u", "--upload", metavar="FILE", help="upload FILE to the root folder")
    exclusive.add_argument("-d", "--delete", metavar="NAME", help="delete NAME (a path or an id)")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    adders = (_add_ls, _add_put, _add_get, _add_rm, _add_mv, _add_mkdir, _add_link, _add_sync)
    for add in (*adders, _add_login):
        add(subcommands, common)
    return parser


def _subcommand(
    subcommands: SubParsers,
    common: argparse.ArgumentParser,
    name: str,
    handler: Command | None,
    help_text: str,
) -> argparse.ArgumentParser:
    parser = subcommands.add_parser(name, parents=[common], help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def _add_ls(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    ls = _subcommand(
        sub, common, "ls", commands.cmd_ls, "list every file, or one folder's subfolders and files"
    )
    ls.add_argument("folder", nargs="?", metavar="FOLDER", help="only this folder ('/' = the root)")
    ls.add_argument("--query", "-q", metavar="Q", help="paths containing Q (any case)")
    ls.add_argument("--category", "-c", metavar="C", choices=CATEGORIES, help=", ".join(CATEGORIES))
    ls.add_argument(
        "--sort", "-s", metavar="S", choices=SORT_KEYS, default="path", help=", ".join(SORT_KEYS)
    )
    ls.add_argument("--reverse", "-r", action="store_true", help="descending order")


def _add_put(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    put = _subcommand(sub, common, "put", commands.cmd_put, "upload files")
    put.usage = (
        f"{PROG} put [options] LOCAL [REMOTE]\n       {PROG} put [options] LOCAL... --to FOLDER"
    )
    put.add_argument(
        "paths",
        nargs="+",
        metavar="LOCAL [REMOTE]",
        help="a file and where it goes on the server (default: its name at the root; ending "
        "in / = into that folder); with --to, every argument is a local file",
    )
    put.add_argument("--to", metavar="FOLDER", help="upload every LOCAL into FOLDER")
    mode = put.add_mutually_exclusive_group()
    mode.add_argument("--replace", action="store_true", help="replace a file at the same path")
    mode.add_argument("--rename", action="store_true", help="pick a free name instead")
    mode.add_argument(
        "--temporary",
        action="store_true",
        help="upload as temporary files (base64 JSON, up to 64 MiB): prints the token to persist",
    )
    put.add_argument(
        "--direct",
        action="store_true",
        help="upload straight to storage through a signed URL (S3: the bytes bypass the server)",
    )
    put.add_argument(
        "--resume",
        action="store_true",
        help="continue an upload that was cut off or killed, from where the server has it "
        "(files of 32 MiB and more always go up resumably; this also finds the earlier try)",
    )


def _add_get(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    get = _subcommand(sub, common, "get", commands.cmd_get, "download a file (resumes a .part)")
    get.add_argument("remote", metavar="REMOTE")
    get.add_argument("local", nargs="?", metavar="LOCAL", help="file or folder; - = stdout")
    get.add_argument("-o", "--output", metavar="LOCAL", help="the same as LOCAL")
    get.add_argument("--force", "-f", action="store_true", help="overwrite an existing LOCAL")


def _add_rm(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    rm = _subcommand(sub, common, "rm", commands.cmd_rm, "delete files or folders")
    rm.add_argument("remotes", nargs="+", metavar="REMOTE")
    rm.add_argument(
        "--recursive", "-r", action="store_true", help="delete folders with their files"
    )


def _add_mv(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    mv = _subcommand(sub, common, "mv", commands.cmd_mv, "rename or move a file or a folder")
    mv.add_argument("source", metavar="FROM")
    mv.add_argument(
        "target", metavar="TO", help="a new path, or a folder (existing, or ending in /)"
    )


def _add_mkdir(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    mkdir = _subcommand(
        sub, common, "mkdir", commands.cmd_mkdir, "create a folder (and its parents)"
    )
    mkdir.add_argument("path", metavar="PATH")


def _add_link(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    link = _subcommand(
        sub, common, "link", commands.cmd_link, "print a download link that needs no token"
    )
    link.add_argument("remote", metavar="REMOTE")
    link.add_argument(
        "--expires", "-e", default="1h", metavar="DURATION", help="e.g. 30m, 1h, 7d (default 1h)"
    )


def _add_sync(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    sync = _subcommand(
        sub, common, "sync", _cmd_sync, "mirror a local folder to the server (changed parts only)"
    )
    sync.add_argument("directory", metavar="DIR", help="the local folder")
    sync.add_argument(
        "--remote", metavar="FOLDER", help="the folder on the server (default: DIR's name)"
    )
    sync.add_argument(
        "--watch", "-w", action="store_true", help="keep following changes until Ctrl-C/SIGTERM"
    )


def _cmd_sync(api: Api, args: argparse.Namespace) -> ExitCode:
    # imported here: pyfastcdc, pathspec and sqlite cost start-up time only sync needs
    from upload_service.client.sync.command import cmd_sync

    return cmd_sync(api, args)


def _add_login(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    login = _subcommand(sub, common, "login", None, "check and save the server URL and a token")
    login.add_argument("--url", help="e.g. http://127.0.0.1:8000 (asked when missing)")
    login.add_argument("--token", help="an API token (asked when missing, without echo)")


class ShowVersion(argparse.Action):
    """``--version``; the installed version is looked up only when asked (start-up time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version"
        )

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kwargs: object) -> None:
        from importlib import metadata

        try:
            version = metadata.version("upload-service")
        except metadata.PackageNotFoundError:
            version = "unknown"
        print(f"{PROG} {version}")
        parser.exit()
