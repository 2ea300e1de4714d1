"""The pieces `lmis-hub demo` runs: parties, connectors and the spine."""
