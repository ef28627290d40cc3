"""The errors loopml raises. Every user-facing failure is a LoopmlError with a clear message."""

from __future__ import annotations


class LoopmlError(Exception):
    """Base of every error loopml raises on purpose; the CLI prints its message alone."""


class InvalidArgumentError(LoopmlError, ValueError):
    """A value given by the user is malformed (a bad name, filter, URI or type)."""


class NotFoundError(LoopmlError, LookupError):
    """A run, project, artifact or other record does not exist."""


class ConflictError(LoopmlError):
    """The request contradicts what is stored (a param logged twice with another value)."""


class IntegrityError(LoopmlError):
    """Stored bytes do not match their digest: the blob is corrupted and was not returned."""


class WorkspaceNotFoundError(LoopmlError):
    """No `.loopml/` folder above the current directory and no store URI in the environment."""


class StoreUnavailableError(LoopmlError):
    """The metadata store could not be reached or stayed locked past the retry budget."""
