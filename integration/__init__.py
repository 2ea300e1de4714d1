"""The integration layer: the ingest worker, linkage and the lake."""
