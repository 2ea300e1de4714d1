"""Production deployment material: Kafka ACLs per agency principal and deployment notes."""
