import json
from pathlib import Path

from hub_api.cli.config import OPENAPI_DOCUMENT
from tests.hub_api.http.conftest import ServedHub
from tests.hub_api.http.server import client

ROOT = Path(__file__).resolve().parents[3]


def test_health_and_me(served_hub: ServedHub) -> None:
    with client(served_hub.url) as http:
        assert http.get("/health").json() == {"status": "ok"}
        assert http.get("/ready").json()["status"] == "ready"
        r = http.get("/api/v1/auth/me")
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "auth.required"
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as http:
        r = http.get("/api/v1/auth/me")
        assert r.status_code == 200, r.text
        assert r.json()["role"] == "lmis_admin"


def test_the_published_openapi_document_is_the_served_one(served_hub: ServedHub) -> None:
    with client(served_hub.url) as http:
        served = http.get("/api/v1/openapi.json").json()
    published = json.loads((ROOT / OPENAPI_DOCUMENT).read_text(encoding="utf-8"))
    assert served == published, "run `lmis-hub config openapi --write docs/reference/openapi.json`"
    assert served["openapi"].startswith("3.")
    paths = served["paths"]
    assert {"/api/v1/auth/login", "/sdmx/rest/data/{flow_ref}", "/api/v1/agreements"} <= set(paths)
