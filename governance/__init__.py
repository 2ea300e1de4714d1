"""Governance: the hub database, agreements, keys, access policy, consent and the audit log."""
