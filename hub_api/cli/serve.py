"""`lmis-hub serve`: the HTTP API on uvicorn (``HUB_API__HOST``, ``_PORT``, ``_WORKERS``)."""

from __future__ import annotations

from typing import Any

import typer

from hub_api.cli.context import get_context


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Listen address (default HUB_API__HOST)."),
    port: int | None = typer.Option(None, help="Port (default HUB_API__PORT)."),
) -> None:
    """Serve the HTTP API (OpenAPI document at /api/v1/openapi.json) until stopped."""
    # Imported here: the web stack would add seconds to the start of every command.
    import uvicorn

    from hub_api.http.app import create_app, serving_key

    cli = get_context(ctx)
    serving_key(cli.settings)  # refuse at once, before the server starts, without the KEK
    api = cli.settings.api
    listen_host, listen_port = host or api.host, port or api.port
    cli.err_console.print(f"serving the hub API on http://{listen_host}:{listen_port}")
    if api.workers > 1:  # each worker process builds the application from HUB_* itself
        target: Any = "hub_api.http.asgi:app_from_environment"
    else:
        target = create_app(cli.settings)
    uvicorn.run(
        target,
        factory=api.workers > 1,
        workers=api.workers if api.workers > 1 else None,
        host=listen_host,
        port=listen_port,
        proxy_headers=True,
        server_header=False,
        log_config=None,  # the hub's logging, configured once by the CLI
    )
