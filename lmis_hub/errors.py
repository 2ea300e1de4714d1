"""The project's one error vocabulary.

Every error the hub can report carries a stable ``code`` (``area.reason``). The same
codes reach the CLI, the HTTP API, the web UI, the quarantine table and the receipts
sent back to agencies, so an operator can search for a code and find the same thing
everywhere. Each package defines its own subclasses in its ``errors.py``; each class
has a one-line docstring saying what to do about it.

Codes are registered when their class is defined; defining two classes with the same
code is a programming error and fails at import time. A refusal reported as data rather
than raised (a connector's refused row, the reason of a policy denial) has its class all
the same, and its code is taken from the class (``RequiredMissing.code``), never typed
as a string. ``arises`` says where a code reaches people; :mod:`lmis_hub.error_reference`
lists every code with it and what to do (``docs/reference/error-codes.md``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

_REGISTRY: dict[str, type[HubError]] = {}


class Arises(StrEnum):
    """Where an error code reaches people (the reference's "where it arises")."""

    #: A connector refuses one source row: its refusals table and `connector status`.
    ROW_REFUSAL = "connector row refusal"
    #: The hub refuses a delivered message: the quarantine table and the rejection receipt.
    QUARANTINE = "hub quarantine and receipt"
    #: A command, an API call or a service fails with it.
    SERVICE = "CLI and services"


class HubError(Exception):
    """Something the hub refuses or cannot do; fix what the message names, or report it."""

    code: ClassVar[str] = "hub.error"
    #: HTTP status the API maps this error to.
    http_status: ClassVar[int] = 500
    #: Where the code arises; subclasses that reach quarantine or refusals say so.
    arises: ClassVar[tuple[Arises, ...]] = (Arises.SERVICE,)

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if code is None:
            return  # an abstract grouping class: it inherits its parent's code
        existing = _REGISTRY.get(code)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(
                f"error code {code!r} is used by both {existing.__qualname__} "
                f"and {cls.__qualname__}"
            )
        _REGISTRY[code] = cls

    def to_dict(self) -> dict[str, Any]:
        """The error envelope shared by the API, the CLI's --json output and receipts."""
        return {"error": {"code": self.code, "message": self.message}}

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ConfigurationError(HubError):
    """A setting is missing or invalid; fix the named setting and start again."""

    code = "config.invalid"
    http_status = 500


class ServiceUnavailable(HubError):
    """A service the hub needs (broker, database) does not answer; start it or fix its address."""

    code = "service.unavailable"
    http_status = 503


def registered_codes() -> dict[str, type[HubError]]:
    """Every error code defined so far, with its class (for docs and tests)."""
    return dict(sorted(_REGISTRY.items()))


_REGISTRY[HubError.code] = HubError
