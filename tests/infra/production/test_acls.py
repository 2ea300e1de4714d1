"""Each agency principal reaches only its own topics; the hub reads all and writes receipts."""

from __future__ import annotations

import pytest

from infra.production.acls import acl_rules, agency_principal, render_commands

AGENCIES = ("nso", "nis", "tvet", "dol", "jobboard", "moe")


def test_agencies_write_only_their_own_topics() -> None:
    rules = acl_rules(AGENCIES)
    for agency in AGENCIES:
        mine = [r for r in rules if r.principal == agency_principal(agency)]
        writes = {(r.resource, r.pattern) for r in mine if r.operation == "Write"}
        assert writes == {(f"lmis.{agency}.", "prefixed")}
        reads = {r.resource for r in mine if r.operation == "Read" and r.resource_type == "topic"}
        assert reads == {f"lmis.receipts.{agency}"}
        # Nothing of another agency's.
        others = [a for a in AGENCIES if a != agency]
        assert not any(
            f"lmis.{o}." in r.resource or r.resource.endswith(f".{o}") for o in others for r in mine
        )


def test_hub_reads_every_agency_and_writes_receipts_and_quarantine() -> None:
    hub = [r for r in acl_rules(AGENCIES) if r.principal == "User:lmis-hub"]
    assert {r.resource for r in hub if r.operation == "Read" and r.resource_type == "topic"} == {
        f"lmis.{a}." for a in AGENCIES
    }
    writes = {r.resource for r in hub if r.operation == "Write"}
    assert writes == {f"lmis.receipts.{a}" for a in AGENCIES} | {"lmis.quarantine"}


def test_rendered_script_quotes_and_lists_every_rule() -> None:
    rules = acl_rules(("nis",))
    script = render_commands(rules, bootstrap="k1:9093", command_config="admin props.properties")
    lines = script.splitlines()
    assert lines[:2] == ["#!/bin/sh", "set -eu"]
    assert len(lines) == 2 + len(rules)
    assert "'admin props.properties'" in script
    assert (
        "--allow-principal User:lmis-nis --operation Write --topic lmis.nis. "
        "--resource-pattern-type prefixed" in script
    )


@pytest.mark.parametrize("bad", ["NIS", "nis;rm", "a b", "receipts", "quarantine"])
def test_odd_agency_codes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="agency code"):
        acl_rules((bad,))


def test_the_hub_gets_no_delivery_acls() -> None:
    with pytest.raises(ValueError, match="hub"):
        acl_rules(("nis", "hub"))
