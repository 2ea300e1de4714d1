"""The API's operations, one module per domain; each stays thin: it checks the caller
through :class:`~hub_api.http.auth.Require` and calls one service."""
