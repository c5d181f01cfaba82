"""The one error type of the client and the exit codes it ends with."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit statuses of ``upload-client`` (documented in the README)."""

    OK = 0
    ERROR = 1  # anything else: a server error, a bad request, rate limiting
    USAGE = 2  # wrong command line, bad configuration
    NOT_FOUND = 3  # no such remote file or folder, or no such local file
    AUTH = 4  # no token, a refused token, or forbidden
    CONFLICT = 5  # the path is taken, or the file changed meanwhile
    TOO_LARGE = 6  # over the server's size limit or over the quota
    UNREACHABLE = 7  # the server cannot be reached or is unavailable
    CORRUPT = 8  # a SHA-256 did not match: the transfer was not what it should be
    INTERRUPTED = 130  # Ctrl-C


class ClientError(Exception):
    """A failure to show as one line on stderr, with the exit code it ends with.

    ``status``, ``code`` and ``details`` come from the server's error answer, when there was one.
    """

    def __init__(
        self,
        message: str,
        exit_code: ExitCode = ExitCode.ERROR,
        *,
        status: int | None = None,
        code: str | None = None,
        details: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.code = code
        self.details = details or []

    def with_message(self, message: str) -> ClientError:
        """The same failure (exit code, server fields), told with more context."""
        return ClientError(
            message, self.exit_code, status=self.status, code=self.code, details=self.details
        )
