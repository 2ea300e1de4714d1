"""Writers of each agency's source system, in the form the agency keeps it."""
