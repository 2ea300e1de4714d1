"""The audit tag taxonomy: ``<object>:<verb>``. An unknown tag is refused.

Add a tag here (with a line saying when it is written) before recording it.
"""

from __future__ import annotations

from governance.errors import AuditTagUnknown

TAGS: dict[str, str] = {
    "agency:create": "an agency was registered",
    "key:register": "an agency public key was registered",
    "key:rotate": "a new key superseded an agency's previous key",
    "key:revoke": "a key was revoked (reason in details)",
    "key:link_handover": "a linkage key sealed to an agency's key was handed over (the hub "
    "records the file's SHA-256 and labels; it never sees the key)",
    "secret:create": "a hub secret (signing key, pseudonymisation key) version was created",
    "secret:rotate": "a hub secret was rotated to a new version",
    "agreement:create": "a data-sharing agreement version was loaded as a draft",
    "agreement:amend": "a new version of an agreement was created",
    "agreement:sign": "a party signed an agreement version",
    "agreement:transition": "an agreement changed lifecycle state (from, to, reason)",
    "agreement_notice:queue": "activating a version superseded an older one: a notice to the "
    "provider was queued (agreement, superseded and current version in details)",
    "agreement_notice:send": "a queued agreement notice was published, signed by the hub, to the "
    "provider's receipts topic",
    "agreement:monitor": "the scheduled agreement monitor ran for a data interval (the "
    "interval is the subject): agreements it expired, late deliveries and agreements expiring "
    "soon, in details; once per interval",
    "delivery:recorded": "a delivery under an agreement was recorded for monitoring",
    "delivery:accepted": "the ingest worker accepted a batch and recorded it as a delivery "
    "under its agreement (agreement, dataset, records, lake snapshot in details)",
    "delivery:quarantined": "the ingest worker quarantined a batch (reason code in details)",
    "quarantine:replay": "a quarantined message was decided again (outcome, old and new reason)",
    "lake:retention": "retention ran on a lake table (cut-offs, rows deleted, snapshots expired)",
    "policy:decision": "an access decision, allowed or denied, with its reason",
    "policy:permission": "an operation asked through the API, allowed or denied, with its "
    "reason (denials always; allowed ones when they change state or read personal-level data)",
    "research:person": "someone was registered for research access, or their role or "
    "accreditation changed",
    "project:apply": "a researcher applied for a research project (datasets, fields, members)",
    "project:decide": "a reviewer (LMIS unit or data-owning agency) approved or refused a "
    "project or a member added after approval",
    "project:approve": "a research project was approved (two LMIS approvers and each agency "
    "required) for named datasets and fields; its key was made",
    "project:refuse": "a research project was refused (by the policy engine at application, "
    "a reviewer or an agency; reason in details)",
    "project:member_add": "a member was added to a research project (pending approval when "
    "added after the project's approval)",
    "project:member_remove": "a member was removed from a research project",
    "project:suspend": "a research project was suspended (reason in details)",
    "project:resume": "a suspended research project was resumed",
    "project:close": "a research project was closed and its key destroyed",
    "project:expire": "a research project's term ran out; it expired and its key was destroyed",
    "extract:build": "a research extract was built (files, rows, k achieved, snapshots, "
    "agreements; its manifest signed by the hub)",
    "extract:download": "a project member downloaded a file of a research extract",
    "extract:delete": "a project's extracts were deleted because the project ended, or an "
    "extract was superseded by a rebuild",
    "output:submit": "a member submitted a result table to the airlock (the automatic checks' "
    "outcome and the state in details)",
    "output:review": "an output checker approved or refused an output (two approvals release it)",
    "output:download": "a member downloaded a released output",
    "indicators:build": "an indicator release was built (its id, the lake snapshots and linkage "
    "run read, the gold snapshot written, observations per indicator)",
    "indicators:publish": "an indicator release was published (folder, flow versions, the "
    "indicators withheld and why; its manifest signed by the hub)",
    "consent:grant": "a person's consent for a purpose was recorded",
    "consent:withdraw": "a person's consent for a purpose was withdrawn",
    "linkage:run": "a linkage run committed (mode, records, persons, key changes, review "
    "pairs queued, the bronze snapshots read and the silver snapshots written)",
    "linkage:fail": "a linkage run failed and left the silver layer as it was (error code)",
    "linkage:review": "a reviewer decided a pair of records: match or no match",
    "account:create": "an account was created (role, agency; never its password)",
    "account:password_change": "an account holder changed their password",
    "account:reset": "an administrator reset an account: new password to change at next "
    "sign-in, TOTP and recovery codes removed, lock lifted, sessions ended",
    "account:totp_enrol": "an account confirmed a (new) TOTP authenticator and got fresh "
    "recovery codes",
    "account:login": "a sign-in completed (the second factor used, if any, in details)",
    "account:login_fail": "a wrong password, TOTP code or recovery code for an existing "
    "account (failures so far in details)",
    "account:lock": "failed sign-ins reached the limit and locked the account (until when)",
    "account:unlock": "an administrator lifted an account's lock",
    "account:logout": "a web session was ended by its holder",
    "account:disable": "an account was disabled (its sessions ended, its tokens revoked)",
    "account:enable": "a disabled account was enabled again",
    "api_token:issue": "an API token was issued (owner, name, role, agency, expiry; never "
    "the token)",
    "api_token:revoke": "an API token was revoked",
    "audit:checkpoint": "a signed checkpoint of the chain head was written",
    "audit:verify": "the chain was verified (result in details)",
    "audit:export": "the audit log was exported",
}


def check_tag(tag: str) -> str:
    """``tag`` if it is in the taxonomy, else :class:`AuditTagUnknown`."""
    if tag not in TAGS:
        raise AuditTagUnknown(f"audit tag {tag!r} is not in governance/audit/tags.py")
    return tag
