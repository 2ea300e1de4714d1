"""The tamper-evident audit log: one writer, a hash chain, signed checkpoints."""
