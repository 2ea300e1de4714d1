"""Kafka ACLs for a production cluster: one principal per agency, each on its own topics.

An agency's connector may write only its own dataset topics (``lmis.<agency>.*``) and
read only its own receipts (``lmis.receipts.<agency>``); the hub's ingest principal
reads every agency topic through its consumer group and writes receipts and
quarantine. Everything else is denied by the cluster's default
(``allow.everyone.if.no.acl.found=false``).

``lmis-hub stack acls`` prints the ``kafka-acls.sh`` commands for review; an operator
applies them with the cluster's admin credentials.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from lmis_hub.topics import HUB, agency_code_problem


@dataclass(frozen=True)
class AclRule:
    principal: str
    operation: str  # Write, Read, Describe, Create
    resource_type: str  # topic | group
    resource: str
    pattern: str  # literal | prefixed

    def command(self, bootstrap: str, command_config: str) -> str:
        flag = "--topic" if self.resource_type == "topic" else "--group"
        return " ".join(
            [
                "kafka-acls.sh",
                "--bootstrap-server",
                shlex.quote(bootstrap),
                "--command-config",
                shlex.quote(command_config),
                "--add",
                "--allow-principal",
                shlex.quote(self.principal),
                "--operation",
                self.operation,
                flag,
                shlex.quote(self.resource),
                "--resource-pattern-type",
                self.pattern,
            ]
        )


def agency_principal(agency: str) -> str:
    return f"User:lmis-{agency}"


def acl_rules(
    agencies: tuple[str, ...],
    *,
    hub_principal: str = "User:lmis-hub",
    ingest_group: str = "lmis-hub-ingest",
) -> list[AclRule]:
    """Every ACL the deployment needs, least privilege first."""
    rules: list[AclRule] = []
    for agency in agencies:
        problem = agency_code_problem(agency)
        if problem is not None or agency == HUB:
            raise ValueError(problem or "the hub is not an agency that delivers")
        principal = agency_principal(agency)
        own = f"lmis.{agency}."
        rules += [
            AclRule(principal, "Write", "topic", own, "prefixed"),
            AclRule(principal, "Describe", "topic", own, "prefixed"),
            AclRule(principal, "Read", "topic", f"lmis.receipts.{agency}", "literal"),
            AclRule(principal, "Describe", "topic", f"lmis.receipts.{agency}", "literal"),
            AclRule(principal, "Read", "group", f"lmis-connector-{agency}", "prefixed"),
        ]
        rules.append(AclRule(hub_principal, "Read", "topic", own, "prefixed"))
        rules.append(AclRule(hub_principal, "Describe", "topic", own, "prefixed"))
        rules.append(AclRule(hub_principal, "Write", "topic", f"lmis.receipts.{agency}", "literal"))
    rules += [
        AclRule(hub_principal, "Read", "group", ingest_group, "literal"),
        AclRule(hub_principal, "Write", "topic", "lmis.quarantine", "literal"),
        AclRule(hub_principal, "Describe", "topic", "lmis.quarantine", "literal"),
    ]
    return rules


def render_commands(rules: list[AclRule], *, bootstrap: str, command_config: str) -> str:
    """A reviewable shell script of ``kafka-acls.sh --add`` commands."""
    lines = ["#!/bin/sh", "set -eu"]
    lines += [r.command(bootstrap, command_config) for r in rules]
    return "\n".join(lines) + "\n"
