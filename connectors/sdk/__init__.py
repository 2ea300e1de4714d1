"""The connector SDK: what every agency connector is built from.

Sources (``sources/``) read an agency's system in watermark order; ``mapping`` turns a
source row into schema fields, ``validation`` refuses what is wrong row by row,
``tokenise`` replaces personal identifiers with keyed tokens, ``pipeline`` cuts the
result into deterministic batches, hands each to a ``publish`` callable and records it
in the ``outbox`` while advancing the ``watermark`` in the same local transaction.
"""
