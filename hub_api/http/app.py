"""The FastAPI application: the routes, the error envelope, security headers, metrics.

:func:`create_app` builds it from the settings loaded once by the caller; the database
engine is made (and migrated) when the application starts and disposed when it stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from governance.keys.wrapping import KeyEncryptionKey
from governance.timestamps import Clock, utc_now
from hub_api.http import errors, metrics
from hub_api.http.routes import (
    accounts,
    agreements,
    audit,
    health,
    indicators,
    linkage,
    oidc,
    operations,
    research,
    session,
)
from hub_api.http.unit import ApiState
from hub_api.web import site
from hub_api.web.failures import page_error
from hub_api.wiring import database, schema_catalog
from integration.indicators.definition import load_definitions
from lmis_hub import __version__
from lmis_hub.errors import ConfigurationError
from lmis_hub.settings import Settings

OPENAPI_URL = "/api/v1/openapi.json"

#: Nothing but the hub's own origin: no inline script, no third-party anything.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def serving_key(settings: Settings) -> KeyEncryptionKey:
    """The key-encryption key the API needs, or a clear error naming the setting."""
    if settings.key_encryption_key is None:
        raise ConfigurationError(
            "HUB_KEY_ENCRYPTION_KEY is required to serve the API (it seals the second factors)"
        )
    return KeyEncryptionKey.from_setting(settings.key_encryption_key)


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The API's OpenAPI document, as served at ``/api/v1/openapi.json``."""
    return create_app(settings).openapi()


def create_app(settings: Settings, *, clock: Clock = utc_now) -> FastAPI:
    """The hub's API on ``settings``. Serving it needs ``HUB_KEY_ENCRYPTION_KEY`` (second
    factors are stored sealed with it), checked when it starts: building it does not
    (the OpenAPI document is generated without secrets)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kek = serving_key(settings)
        engine = database(settings)
        schemas = schema_catalog(settings)
        app.state.hub = ApiState(
            settings=settings,
            engine=engine,
            clock=clock,
            kek=kek,
            schemas=schemas,
            definitions=tuple(load_definitions(schemas=schemas)),
        )
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="LMIS Integration Hub API",
        version=__version__,
        description="Agreements, deliveries, the audit log, research access and the "
        "published indicators of the LMIS Integration Hub. Errors are "
        '`{"error": {"code", "message"}}` with the codes of docs/reference/error-codes.md.',
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    errors.install(app, page_error=page_error)
    metrics.install(app, metrics.Metrics())

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if settings.api.secure_cookies:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        if request.url.path.startswith("/api/v1/") and "/public/" not in request.url.path:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for module in (
        health,
        session,
        oidc,
        accounts,
        agreements,
        operations,
        audit,
        indicators,
        research,
        linkage,
    ):
        app.include_router(module.router)
    site.install(app)
    return app
