"""Data contracts: Avro schemas per agency dataset, the schema catalog and the batch envelope."""
