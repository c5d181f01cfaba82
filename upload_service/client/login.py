"""``upload-client login``: ask for (or take) the server URL and a token, check, save."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from upload_service.client.api import Api
from upload_service.client.config import (
    TOKEN_VARIABLE,
    URL_VARIABLE,
    Config,
    check_url,
    read_saved_config,
    save_config,
)
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.output import print_json
from upload_service.schemas.auth import MeOut


def cmd_login(args: argparse.Namespace) -> None:
    """``login [--url URL] [--token TOKEN]``: check them with ``GET /api/me``, then save them."""
    default_url = args.url or read_saved_config().get("url") or ""
    prompt = f"Server URL [{default_url}]: " if default_url else "Server URL: "
    url = check_url(args.url or ask(prompt) or default_url)
    token = args.token or ask("API token: ", secret=True)
    if not token:
        raise ClientError("no token given", ExitCode.USAGE)
    config = Config(url=url, token=token)
    me = who_am_i(config, debug=bool(getattr(args, "debug", False)))
    path = save_config(config)
    if getattr(args, "json", False):
        print_json({"url": url, "login": me.login, "config": str(path)})
    else:
        print(f"logged in to {url} as {me.login}; saved to {path}")
    for variable in (URL_VARIABLE, TOKEN_VARIABLE):
        if variable in os.environ:
            print(f"note: {variable} is set and wins over the saved value", file=sys.stderr)


def who_am_i(config: Config, *, debug: bool) -> MeOut:
    """``GET /api/me`` with ``config``; a refused token is said to be refused."""
    api = Api(config, debug=debug)
    try:
        return api.me()
    except ClientError as error:
        if error.exit_code != ExitCode.AUTH:
            raise
        message = f"the server at {config.url} refused the token: {error.message}"
        raise error.with_message(message) from None
    finally:
        api.close()


def ask(prompt: str, *, secret: bool = False) -> str:
    """A prompt on the terminal; from a pipe, the next line of stdin."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    if secret:
        return getpass.getpass(prompt).strip()
    print(prompt, end="", file=sys.stderr, flush=True)
    return input().strip()
