"""Running the hub: the embedded single-machine stack and production deployment material."""
