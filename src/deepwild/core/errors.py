"""Errors a user can act on.

Every error raised for bad input is a `DeepwildError`: the CLI prints its message as one line
(plus the hint) and exits non-zero; only `--debug` shows a traceback.
"""

from __future__ import annotations


class DeepwildError(Exception):
    """An error caused by the user's input, with a message that says what to do next."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(DeepwildError):
    """A config file, key or value that deepwild cannot use."""


class InputError(DeepwildError):
    """A file the user handed us is missing, unreadable, corrupt or too large."""


class ModelPackageError(DeepwildError):
    """A model package whose files are missing, malformed or do not match their checksums."""


class RunNotFoundError(DeepwildError):
    """A run directory that does not exist or is not a deepwild run."""


class TrainingDivergedError(DeepwildError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3
