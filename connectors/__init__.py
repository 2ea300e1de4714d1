"""Agency connectors: the SDK and one connector per agency."""
