"""The application as an ASGI server loads it in each worker process: the settings are
read from the environment once per process (``HUB_*``)."""

from __future__ import annotations

from fastapi import FastAPI

from hub_api.http.app import create_app
from lmis_hub.settings import load_settings


def app_from_environment() -> FastAPI:
    return create_app(load_settings())
