"""The hub's ingest worker: verify, quarantine, re-key, land in bronze, receipt, audit."""
