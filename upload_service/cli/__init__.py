"""The ``upload-service`` command: serve, db upgrade, sweep, token, user."""

from __future__ import annotations

import sys

import click

from upload_service.settings import SettingsError


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Upload Service. Without a subcommand, runs the server (same as `serve`)."""
    if ctx.invoked_subcommand is None:
        from upload_service.cli.serve import serve

        ctx.invoke(serve)


def _register_commands() -> None:
    from upload_service.cli.db import db, sweep
    from upload_service.cli.serve import serve
    from upload_service.cli.tokens import token
    from upload_service.cli.users import user

    for command in (serve, db, sweep, token, user):
        cli.add_command(command)


def main() -> None:
    _register_commands()
    try:
        cli.main(prog_name="upload-service", standalone_mode=True)
    except SettingsError as exc:
        click.echo(f"upload-service: {exc}", err=True)
        sys.exit(2)
