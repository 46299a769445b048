"""Exceptions. Each carries the context a user needs to fix the problem."""

from __future__ import annotations


class PrefjudgeError(Exception):
    """Base class of every error prefjudge raises on purpose."""


class InputError(PrefjudgeError, ValueError):
    """Bad user input. Names the row and the field when they are known."""

    def __init__(self, message: str, *, row: int | str | None = None, field: str | None = None):
        self.row = row
        self.field = field
        self.detail = message
        """The message without the row/field prefix."""
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class ConfigError(PrefjudgeError, ValueError):
    """A configuration file or object is invalid."""


class StoreError(PrefjudgeError):
    """The call store cannot be used: not a prefjudge store, a newer schema, unwritable, damaged.

    The message names the path (also in ``path``); a refused file is left as it was.
    """

    def __init__(self, message: str, *, path=None):
        self.path = path
        super().__init__(f"store {path}: {message}" if path is not None else f"store: {message}")


class BatchPending(PrefjudgeError):
    """Provider batches are still running when the wait ended: nothing is lost (the store records the
    batches); the same call, rerun later, polls them instead of submitting again. ``.summary`` says
    what was submitted, collected and is still pending."""

    def __init__(self, message: str, *, summary=None):
        super().__init__(message)
        self.summary = summary


class BackendError(PrefjudgeError):
    """A backend call failed. ``transient`` errors are retried by the engine."""

    transient: bool = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class TransientBackendError(BackendError):
    """429, 5xx, timeouts, dropped connections: worth another try."""

    transient = True


class PermanentBackendError(BackendError):
    """Bad request, authentication, unknown model: retrying will not help."""
