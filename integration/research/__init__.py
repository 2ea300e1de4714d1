"""Research extracts: the approved fields of the lake, persons replaced by project
pseudonyms, consent applied, quasi-identifiers generalised and made k-anonymous, written
with a signed manifest and a codebook to the project's workspace (see
docs/guide/research.md)."""
