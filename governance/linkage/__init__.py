"""The linkage's records in the hub database: runs, person keys and their history, the
clerical review queue and the reviewers' decisions."""
