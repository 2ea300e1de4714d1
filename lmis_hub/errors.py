"""The project's one error vocabulary.

Every error the hub can report carries a stable ``code`` (``area.reason``). The same
codes reach the CLI, the HTTP API, the web UI, the quarantine table and the receipts
sent back to agencies, so an operator can search for a code and find the same thing
everywhere. Each package defines its own subclasses in its ``errors.py``; each class
has a one-line docstring saying what to do about it.

Codes are registered when their class is defined; defining two classes with the same
code is a programming error and fails at import time.
"""

from __future__ import annotations

from typing import Any, ClassVar

_REGISTRY: dict[str, type[HubError]] = {}


class HubError(Exception):
    """Something the hub refuses or cannot do; read the message and the code."""

    code: ClassVar[str] = "hub.error"
    #: HTTP status the API maps this error to.
    http_status: ClassVar[int] = 500

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
