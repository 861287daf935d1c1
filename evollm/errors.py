"""Typed errors and named exit codes: the core raises, only the CLI prints and exits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """How an evollm process ends; the README's table of exit codes lists these."""

    OK = 0
    FAILED = 1  # as grep: not found, nothing matched, or a check that found problems
    USAGE = 2  # Typer's own code for bad arguments
    INVALID_KB = 3
    NETWORK = 4
    CANNOT_WRITE = 5  # a file or folder could not be written
    FILE_EXISTS = 6  # the target exists and --force was not given


class EvollmError(Exception):
    """An error a user can act on; `exit_code` says how the process ends."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(EvollmError):
    exit_code = ExitCode.FAILED


class Failed(EvollmError):
    """A check or a question that found problems or nothing: exit 1, with the message shown."""

    exit_code = ExitCode.FAILED


class CannotWrite(EvollmError):
    exit_code = ExitCode.CANNOT_WRITE


class UsageError(EvollmError):
    exit_code = ExitCode.USAGE


class NetworkError(EvollmError):
    exit_code = ExitCode.NETWORK


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of the knowledge base, printed as `path:line: field: message`."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InvalidKnowledgeBase(EvollmError):
    exit_code = ExitCode.INVALID_KB

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.path, p.line or 0, p.field, p.message))
        count = len(self.problems)
        super().__init__(f"the knowledge base has {count} problem{'s' if count != 1 else ''}")
