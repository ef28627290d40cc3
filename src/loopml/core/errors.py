"""The errors loopml raises. Every user-facing failure is a LoopmlError with a clear message."""

from __future__ import annotations


class LoopmlError(Exception):
    """Base of every error loopml raises on purpose; the CLI prints its message alone."""


class InvalidArgumentError(LoopmlError, ValueError):
    """A value given by the user is malformed (a bad name, filter, URI or type)."""


class UnsupportedMediaTypeError(InvalidArgumentError):
    """A body sent with a content type the route does not read (the API reads JSON only)."""


class PayloadTooLargeError(InvalidArgumentError):
    """A request body over the route's limit: refused before it is read whole."""


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


class AuthenticationError(LoopmlError):
    """No credentials, or credentials that are unknown, revoked or malformed."""


class PermissionDeniedError(LoopmlError):
    """The credentials are valid but their role does not allow this action on this project."""


# How errors cross the wire: an HTTP status for each, and back into the same class on the
# client (a server's error is raised on the client as if the store were local).
HTTP_STATUS: dict[type[LoopmlError], int] = {
    InvalidArgumentError: 400,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    WorkspaceNotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    UnsupportedMediaTypeError: 415,
    IntegrityError: 422,
    StoreUnavailableError: 503,
    LoopmlError: 400,
}


def http_status(error: LoopmlError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 400


def error_class(name: str) -> type[LoopmlError]:
    """The error class a server named in its answer (LoopmlError for names it does not know)."""
    return next((cls for cls in HTTP_STATUS if cls.__name__ == name), LoopmlError)
