"""The governed lake: Iceberg tables in a SQL catalog kept in the hub database."""
