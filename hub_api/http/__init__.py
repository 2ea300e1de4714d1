"""The hub's HTTP API: one FastAPI application (:func:`hub_api.http.app.create_app`)
served by `lmis-hub serve`. Every operation asks the access policy through
:class:`hub_api.http.auth.Require`; every error leaves in one envelope."""
