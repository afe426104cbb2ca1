"""Errors a user can fix by editing a file: each carries the file, line and problem in one line."""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input from a user's file: printed as one line, the command exits 2."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(UserInputError):
    """config.yaml is unreadable, mistyped or names an unknown key."""


class LexiconError(UserInputError):
    """A keywords/*.yaml file is unreadable or malformed."""


class TargetsFileError(UserInputError):
    """A targets CSV has a bad row."""


class DatabaseUnavailable(Exception):
    """The database cannot be used at all (down, unreachable, locked, unopenable): printed as
    one line naming which and where, instead of a driver's traceback."""
