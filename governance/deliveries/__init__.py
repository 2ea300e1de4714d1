"""Deliveries in the hub database: the ledger of accepted batches and the quarantine."""
