"""Agencies, keys and agreements on the web, in a real browser: the LMIS unit registers
an agency's key, stores a draft from its YAML, amends it, compares the versions, is told
why a draft cannot be activated, takes the parties' signatures and activates it; an
agency operator sees and signs only the agreements of their own agency, and another
agency's pages are refused by the server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, expect

from hub_api.wiring import governance_session, schema_catalog
from schemas.keys import public_pem
from tests.fixtures.hub import HUB, agency_agreement, dataset_terms
from tests.hub_api.http.conftest import AGENCY, PASSWORD, ServedHub
from tests.hub_api.http.server import client
from tests.hub_api.web.browsing import check, enrol, sign_in_with_password, visit

EXAMPLE = Path(__file__).parents[3] / "governance" / "examples" / "agreements" / "nso.yaml"


@pytest.fixture(scope="module")
def hub_datasets() -> tuple[str, ...]:
    """An agreement for the operator's own agency (nis) and one for another (tvet)."""
    return ("nis/contribution", "tvet/trainee")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


@contextmanager
def signed_in(served_hub: ServedHub, role: str) -> Iterator[tuple[httpx.Client, str]]:
    """A client signed in on the pages with the password (a role without TOTP), and the
    session's CSRF token."""
    with client(served_hub.url) as http:
        token = re.search(r'name="form_token" value="([^"]+)"', http.get("/login").text)
        assert token
        answer = http.post(
            "/login",
            data={"username": served_hub.user(role), "password": PASSWORD, "form_token": token[1]},
        )
        assert answer.status_code == 303, answer.text
        yield http, _csrf(http.get("/account").text)


def hub_signature(served_hub: ServedHub, canonical: bytes) -> tuple[str, bytes]:
    """The hub's key id and its signature of ``canonical`` (what `agreements sign
    --agency hub` makes with the hub's own secret key)."""
    with governance_session(served_hub.settings, actor="setup") as gov:
        hub = gov.secrets().hub_signing_key()
        return hub.key_id, hub.private_key.sign(canonical)


def test_the_lmis_unit_drafts_amends_signs_and_activates_an_agreement(
    page: Page, served_hub: ServedHub, tmp_path: Path
) -> None:
    base = served_hub.url
    sign_in_with_password(page, base, served_hub.user("lmis_admin"), PASSWORD)
    enrol(page, "agreements-admin")
    expect(page).to_have_url(re.compile(r"/work$"))
    nav = page.get_by_role("navigation", name="Work")

    # The statistics office's key, registered by pasting its PEM.
    nav.get_by_role("link", name="Agencies").click()
    check(page, "agencies-admin")
    page.get_by_label("Code").fill("Ministry")
    page.get_by_role("button", name="Register the agency").click()
    expect(page.get_by_role("alert")).to_contain_text("agency.invalid_code")
    page.get_by_label("Code").fill("mol")
    page.get_by_label("Name").fill("Ministry of Labour")
    page.get_by_role("button", name="Register the agency").click()
    expect(page.get_by_role("status")).to_contain_text("The agency is registered")
    expect(page.get_by_role("table")).to_contain_text("Ministry of Labour")
    page.get_by_role("link", name="Keys of nso").click()
    nso_key = Ed25519PrivateKey.generate()
    page.get_by_label("Or paste the public key").fill(public_pem(nso_key.public_key()))
    page.get_by_role("button", name="Register the key").click()
    expect(page.get_by_role("status")).to_contain_text("The key is registered")
    check(page, "agency-keys-admin")
    nso_key_id = page.get_by_role("table").locator("tbody tr td code").first.inner_text()
    assert nso_key_id.startswith("nso")

    # A draft from the example's YAML file, then an amendment pasted in.
    nav.get_by_role("link", name="Agreements").click()
    check(page, "agreements-admin")
    page.get_by_role("link", name="New draft or amendment").click()
    check(page, "agreement-new")
    page.get_by_label("Or paste the YAML").fill("id: dsa-nso-lmis\ntitle: [not closed")
    page.get_by_role("button", name="Store the draft").click()
    expect(page.get_by_role("alert")).to_contain_text("agreement.invalid")
    expect(page.get_by_role("alert")).to_contain_text("not valid YAML")
    page.get_by_label("Or paste the YAML").fill("")
    page.get_by_label("Agreement file (YAML)").set_input_files(str(EXAMPLE))
    page.get_by_role("button", name="Store the draft").click()
    expect(page.get_by_role("status")).to_contain_text("The draft is stored")
    expect(page.get_by_role("heading", level=1)).to_contain_text("(v1)")
    check(page, "agreement-draft")

    # Activating a draft is refused with the reason: the signatures it still needs.
    page.get_by_label("Reason to activate").fill("go live")
    page.get_by_role("button", name="Activate v1").click()
    expect(page.get_by_role("alert")).to_contain_text("agreement.transition_refused")
    expect(page.get_by_role("alert")).to_contain_text("still needs the signature of hub, nso")
    check(page, "agreement-activate-refused")

    amended = EXAMPLE.read_text(encoding="utf-8").replace(
        "retention_days: 3650", "retention_days: 1825"
    )
    page.goto(f"{base}/work/agreements/new")
    page.get_by_label("Or paste the YAML").fill(amended)
    page.get_by_label(re.compile("^Amendment")).check()
    page.get_by_role("button", name="Store the draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("(v2)")

    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/diff\?from=1&to=2$"))
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("retention_days")
    expect(rows.first).to_contain_text("3650")
    expect(rows.first).to_contain_text("1825")
    check(page, "agreement-diff")

    # Each party's signature of the canonical JSON: pasted as hex, and as a file.
    page.goto(f"{base}/work/agreements/dsa-nso-lmis?version=2")
    canonical = page.request.get(f"{base}/work/agreements/dsa-nso-lmis/canonical?version=2")
    assert canonical.ok and canonical.headers["content-type"] == "application/json"
    document = canonical.body()
    page.get_by_label("Signing key").select_option(nso_key_id)
    page.get_by_label("Or paste the signature (hexadecimal)").fill(b"\x00".hex() * 64)
    page.get_by_role("button", name="Upload the signature").click()
    expect(page.get_by_role("alert")).to_contain_text("signature.invalid")
    page.get_by_label("Signing key").select_option(nso_key_id)
    page.get_by_label("Or paste the signature (hexadecimal)").fill(nso_key.sign(document).hex())
    page.get_by_role("button", name="Upload the signature").click()
    expect(page.get_by_role("status")).to_contain_text("The signature is recorded")
    hub_key_id, signature = hub_signature(served_hub, document)
    signature_file = tmp_path / "hub.sig"
    signature_file.write_bytes(signature)
    page.get_by_label("Signing key").select_option(hub_key_id)
    page.get_by_label("Signature file").set_input_files(str(signature_file))
    page.get_by_role("button", name="Upload the signature").click()
    expect(page.get_by_role("status")).to_contain_text("The signature is recorded")
    meta = page.locator("dl.meta")
    expect(meta).to_contain_text("signed")
    signatures = page.get_by_role("table", name="Signatories and their signatures")
    expect(signatures.get_by_text("valid", exact=True)).to_have_count(2)

    page.get_by_label("Reason to activate").fill("signed by both parties")
    page.get_by_role("button", name="Activate v2").click()
    expect(page.get_by_role("status")).to_contain_text("The version is active")
    expect(meta).to_contain_text("active")
    check(page, "agreement-active")

    # The list shows both versions: v1 superseded, v2 in force.
    page.goto(f"{base}/work/agreements?provider=nso")
    table = page.get_by_role("table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(0)).to_contain_text("terminated")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("active")

    # Suspending asks for confirmation in the browser first.
    page.goto(f"{base}/work/agreements/dsa-nso-lmis?version=2")
    page.get_by_label("Reason to suspend").fill("audit of the register")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Suspend v2").click()
    expect(meta).to_contain_text("active")  # dismissed: nothing sent
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Suspend v2").click()
    expect(page.get_by_role("status")).to_contain_text("suspended")
    expect(page.get_by_role("table", name="Changes of state, oldest first")).to_contain_text(
        "audit of the register"
    )

    visit(page, f"{base}/work/agreements/late", "agreements-late")
    expect(page.get_by_role("table")).to_contain_text("dsa-nis-lmis")
    visit(page, f"{base}/work/agreements/expiring?days=3000", "agreements-expiring")
    expect(page.get_by_role("table")).to_contain_text("dsa-nso-lmis")

    # The statistics office lost its key: revoked, with the reason shown.
    page.goto(f"{base}/work/agencies/nso")
    page.get_by_label(f"Reason for revoking {nso_key_id}").fill("laptop stolen")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke {nso_key_id}").click()
    expect(page.get_by_role("status")).to_contain_text("The key is revoked")
    expect(page.get_by_role("table")).to_contain_text("laptop stolen")


def _nis_amendment(served_hub: ServedHub) -> tuple[str, Ed25519PrivateKey]:
    """A draft v2 of the nis agreement and a key of nis's for which the test holds the
    private half: (key id, private key)."""
    private = Ed25519PrivateKey.generate()
    with governance_session(served_hub.settings, actor="setup") as gov:
        key = gov.keys.register(AGENCY, public_pem(private.public_key()), actor="setup")
        terms = dataset_terms(schema_catalog(served_hub.settings), AGENCY, "contribution")
        doc = agency_agreement(AGENCY, {"contribution": terms}, retention_days=1000)
        gov.agreements.amend(doc, actor="setup")
        return key.key_id, private


def test_an_agency_operator_sees_and_signs_only_their_own_agreements(
    page: Page, served_hub: ServedHub
) -> None:
    base = served_hub.url
    key_id, private = _nis_amendment(served_hub)
    sign_in_with_password(page, base, served_hub.user("agency_operator"), PASSWORD)
    expect(page).to_have_url(re.compile(r"/work$"))
    nav = page.get_by_role("navigation", name="Work")
    expect(nav.get_by_role("link", name="Agreements")).to_be_visible()

    nav.get_by_role("link", name="Agreements").click()
    table = page.get_by_role("table")
    expect(table).to_contain_text("dsa-nis-lmis")
    expect(table).not_to_contain_text("dsa-tvet-lmis")
    expect(page.get_by_role("link", name="New draft or amendment")).to_have_count(0)
    check(page, "agreements-operator")

    page.get_by_role("link", name="dsa-nis-lmis version 2").click()
    expect(page.get_by_role("heading", name="Lifecycle")).to_have_count(0)
    options = page.get_by_label("Signing key").locator("option").all_inner_texts()
    assert options and all(o.startswith(f"{AGENCY}:") for o in options), options
    check(page, "agreement-operator-draft")
    document = page.request.get(f"{base}/work/agreements/dsa-nis-lmis/canonical?version=2").body()
    page.get_by_label("Signing key").select_option(key_id)
    page.get_by_label("Or paste the signature (hexadecimal)").fill(private.sign(document).hex())
    page.get_by_role("button", name="Upload the signature").click()
    expect(page.get_by_role("status")).to_contain_text("The signature is recorded")
    signatures = page.get_by_role("table", name="Signatories and their signatures")
    expect(signatures.get_by_role("row", name=re.compile(f"^{AGENCY} "))).to_contain_text(key_id)
    expect(page.locator("dl.meta")).to_contain_text("draft")  # the hub has not signed yet

    page.goto(f"{base}/work/agreements/late")  # the pages the admin's journey checked
    late = page.get_by_role("table")
    expect(late).to_contain_text("dsa-nis-lmis")
    expect(late).not_to_contain_text("tvet")
    page.goto(f"{base}/work/agreements/expiring?days=3000")
    expect(page.get_by_role("table")).not_to_contain_text("tvet")

    nav.get_by_role("link", name="Agencies").click()
    expect(page.get_by_role("table").locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name=f"Keys of {AGENCY}").click()
    expect(page.get_by_role("table")).to_contain_text(key_id)
    expect(page.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)
    check(page, "agency-keys-operator")

    refused = page.goto(f"{base}/work/agreements/dsa-tvet-lmis")
    assert refused is not None and refused.status == 403
    expect(page.locator("main")).to_contain_text("policy.other_agency_data")
    refused = page.goto(f"{base}/work/agencies/tvet")
    assert refused is not None and refused.status == 403
    expect(page.locator("main")).to_contain_text("policy.other_agency_data")


def test_the_forms_refuse_what_the_policy_or_the_terms_do_not_allow(
    served_hub: ServedHub,
) -> None:
    with signed_in(served_hub, "agency_operator") as (http, csrf):
        # the LMIS unit's forms are not the operator's, whatever the menu shows
        yaml_text = EXAMPLE.read_text(encoding="utf-8")
        stored = http.post("/work/agreements", data={"csrf_token": csrf, "document": yaml_text})
        assert stored.status_code == 403 and "policy.role_not_permitted" in stored.text
        moved = http.post(
            "/work/agreements/dsa-nis-lmis/suspend",
            data={"csrf_token": csrf, "version": "1", "reason": "x"},
        )
        assert moved.status_code == 403
        keyed = http.post(f"/work/agencies/{AGENCY}/keys", data={"csrf_token": csrf})
        assert keyed.status_code == 403
        # signing for another party with its key: refused for the other agency
        with governance_session(served_hub.settings, actor="setup") as gov:
            hub_key = gov.keys.list(HUB)[0].key_id
        signed = http.post(
            "/work/agreements/dsa-nis-lmis/signatures",
            data={
                "csrf_token": csrf,
                "version": "1",
                "key_id": hub_key,
                "signature_hex": "ab" * 64,
            },
        )
        assert signed.status_code == 403 and "policy.other_agency_data" in signed.text
        # without the CSRF token nothing is even considered
        bare = http.post(
            "/work/agreements/dsa-nis-lmis/signatures",
            data={"version": "1", "key_id": hub_key, "signature_hex": "ab" * 64},
        )
        assert bare.status_code == 403 and "auth.csrf" in bare.text
        assert http.get("/work/quarantine?agency=tvet").status_code == 403
    with signed_in(served_hub, "lmis_analyst") as (http, csrf):
        assert http.get("/work/agreements").status_code == 200
        assert http.get("/work/agencies/nis").status_code == 403  # keys: not the analyst's
        listing = http.get("/work/agencies").text
        assert "dsa" not in listing and "Keys of" not in listing
        assert "Register an agency" not in listing
        bad = http.get("/work/agreements?state=bogus")
        assert bad.status_code == 422 and "request.invalid" in bad.text
        same = http.get("/work/agreements/dsa-nis-lmis/diff", params={"from": 1, "to": 1})
        assert same.status_code == 200 and "the same terms" in same.text
        missing = http.get("/work/agreements/dsa-nis-lmis?version=99")
        assert missing.status_code == 404 and "agreement.unknown" in missing.text
