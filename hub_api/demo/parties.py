"""The demo's parties: the five agencies, their signing keys and their agreements.

Everything here is idempotent, so a second demo finds what the first one made and
changes nothing: agencies already registered stay, a key pair already on disk and
registered is reused, an active agreement is left as it is.

The demo keeps its key material under ``<data dir>/keys/``, the layout the agency
connector configs expect (``<agency>.key.pem``, ``hub.pub.pem``, ``link.key``). The
private keys and the linkage key are encrypted with a random passphrase kept in
``demo.passphrase`` (mode 0600) unless the settings give the connector passphrases;
the hub's key-encryption key is ``hub.kek`` unless ``HUB_KEY_ENCRYPTION_KEY`` is set.
That is a single-machine convenience: a deployment keeps each agency's keys at the
agency and the key-encryption key in a KMS. Nothing here prints a private key.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy.orm import Session

from connectors.sdk.linkkey import LinkKey, load_link_key, write_link_key_file
from governance.agencies.services import AgencyService
from governance.agreements.document import load_yaml
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.errors import AgreementUnknown
from governance.keys.secrets import HubSecrets
from governance.keys.services import KeyService
from governance.keys.wrapping import KeyEncryptionKey
from governance.timestamps import utc_now
from lmis_hub.settings import Settings
from schemas.catalog import SchemaCatalog
from schemas.keys import (
    encrypted_private_pem,
    key_id_for,
    load_private_pem,
    public_pem,
)

AGREEMENTS_DIR = Path(__file__).parents[2] / "governance" / "examples" / "agreements"
ACTOR = "demo"


def demo_agencies() -> list[str]:
    """The demo's providers: one agreement file each in AGREEMENTS_DIR."""
    return sorted(path.stem for path in AGREEMENTS_DIR.glob("*.yaml"))


def agreement_file(agency: str) -> Path:
    return AGREEMENTS_DIR / f"{agency}.yaml"


def write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@dataclass(frozen=True)
class DemoSecrets:
    """The passphrases and key-encryption key the demo runs with (never printed)."""

    keys_dir: Path
    passphrase: SecretStr
    link_passphrase: SecretStr
    kek: SecretStr

    def __repr__(self) -> str:
        return f"DemoSecrets(keys_dir={self.keys_dir!s}, secrets=***)"


def demo_secrets(settings: Settings) -> DemoSecrets:
    """The settings' secrets where given, else the demo's own files (made once)."""
    keys_dir = settings.data_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    pass_file = keys_dir / "demo.passphrase"
    if not pass_file.exists():
        write_secret(pass_file, secrets.token_urlsafe(32).encode())
    own = SecretStr(pass_file.read_text(encoding="utf-8").strip())
    kek = settings.key_encryption_key
    if kek is None:
        kek_file = keys_dir / "hub.kek"
        if not kek_file.exists():
            write_secret(kek_file, base64.b64encode(os.urandom(32)))
        kek = SecretStr(kek_file.read_text(encoding="ascii").strip())
    connector = settings.connector
    return DemoSecrets(
        keys_dir=keys_dir,
        passphrase=connector.signing_key_passphrase or own,
        link_passphrase=connector.link_key_passphrase or own,
        kek=kek,
    )


def ensure_link_key(secrets_: DemoSecrets) -> LinkKey:
    """The connectors' linkage key K_link (``link.key``), made on first use."""
    path = secrets_.keys_dir / "link.key"
    if not path.exists():
        write_link_key_file(path, LinkKey.generate(key_id=1), secrets_.link_passphrase)
    return load_link_key(path, secrets_.link_passphrase)


@dataclass
class PartiesReport:
    """What the demo registered now and what it found in place."""

    agencies_added: list[str] = field(default_factory=list)
    keys_registered: dict[str, str] = field(default_factory=dict)
    keys_reused: dict[str, str] = field(default_factory=dict)
    agreements_activated: list[str] = field(default_factory=list)
    agreements_in_force: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "agencies_added": self.agencies_added,
            "keys_registered": self.keys_registered,
            "keys_reused": self.keys_reused,
            "agreements_activated": self.agreements_activated,
            "agreements_in_force": self.agreements_in_force,
        }


def _agency_key(keys: KeyService, agency: str, secrets_: DemoSecrets) -> tuple[str, bool]:
    """Key id of the agency's key pair on disk, registered if it was not; (id, new)."""
    path = secrets_.keys_dir / f"{agency}.key.pem"
    passphrase = secrets_.passphrase.get_secret_value().encode("utf-8")
    if path.exists():
        private = load_private_pem(path.read_bytes(), passphrase, where=str(path))
    else:
        private = Ed25519PrivateKey.generate()
        write_secret(path, encrypted_private_pem(private, passphrase))
    key_id = key_id_for(agency, private.public_key())
    (secrets_.keys_dir / f"{agency}.pub.pem").write_text(
        public_pem(private.public_key()), encoding="utf-8"
    )
    if any(k.key_id == key_id for k in keys.list(agency)):
        return key_id, False
    keys.register(agency, public_pem(private.public_key()), actor=ACTOR)
    return key_id, True


def _signer(agency: str, secrets_: DemoSecrets) -> Ed25519PrivateKey:
    path = secrets_.keys_dir / f"{agency}.key.pem"
    passphrase = secrets_.passphrase.get_secret_value().encode("utf-8")
    return load_private_pem(path.read_bytes(), passphrase, where=str(path))


def ensure_parties(session: Session, secrets_: DemoSecrets) -> PartiesReport:
    """Agencies, the hub's secrets, the agencies' keys and the five active agreements.

    Runs in the caller's transaction (the caller commits), so a failure leaves nothing
    half made; every change is audited by the governance services themselves.
    """
    report = PartiesReport()
    audit = AuditLog(session, clock=utc_now)
    report.agencies_added = AgencyService(session, clock=utc_now, audit=audit).ensure_known(
        actor=ACTOR
    )
    keys = KeyService(session, clock=utc_now, audit=audit)
    hub = HubSecrets(
        session,
        kek=KeyEncryptionKey.from_setting(secrets_.kek),
        keys=keys,
        clock=utc_now,
        audit=audit,
    )
    hub.initialise(actor=ACTOR)
    hub_key = hub.hub_signing_key()
    (secrets_.keys_dir / "hub.pub.pem").write_text(
        public_pem(hub_key.private_key.public_key()), encoding="utf-8"
    )
    agreements = AgreementService(
        session, clock=utc_now, audit=audit, keys=keys, schemas=SchemaCatalog.load()
    )
    for agency in demo_agencies():
        key_id, new = _agency_key(keys, agency, secrets_)
        (report.keys_registered if new else report.keys_reused)[agency] = key_id
        doc = load_yaml(agreement_file(agency))
        try:
            row = agreements.get(doc.id)
        except AgreementUnknown:
            row = agreements.create(doc, actor=ACTOR)
        if row.state == "active":
            report.agreements_in_force.append(f"{row.id} v{row.version}")
            continue
        signed = {s.agency for s in agreements.signatures(row.id, row.version)}
        if row.state == "draft":
            if agency not in signed:
                agreements.sign_with(
                    row.id,
                    row.version,
                    agency=agency,
                    key_id=key_id,
                    private_key=_signer(agency, secrets_),
                    actor=ACTOR,
                )
            if "hub" not in signed:
                agreements.sign_with(
                    row.id,
                    row.version,
                    agency="hub",
                    key_id=hub_key.key_id,
                    private_key=hub_key.private_key,
                    actor=ACTOR,
                )
        agreements.activate(row.id, row.version, actor=ACTOR, reason="demo: signed by both parties")
        report.agreements_activated.append(f"{row.id} v{row.version}")
    return report
