"""The web interface on the API's application: the pages, their static files, and the
error pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hub_api.web import failures
from hub_api.web.pages import (
    account,
    agencies,
    agreements,
    airlock,
    audit,
    linkage,
    operations,
    public,
    research,
    signin,
)
from hub_api.web.templating import STATIC_DIR

ROUTERS = (
    public.router,
    signin.router,
    account.router,
    audit.router,
    agencies.router,
    agreements.router,
    operations.router,
    linkage.router,
    research.router,
    airlock.router,
)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    failures.install(app)
