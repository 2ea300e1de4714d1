"""Linkage: one person across agencies, on tokens only (see docs/guide/linkage.md).

``link`` (the library call, :mod:`.link`) turns tokenised tables into persons;
:mod:`.keys` gives them stable random keys; :mod:`.quality` measures a linkage against
a ground truth.
"""
