"""SDMX structures and messages of the published labour-market indicators.

- :mod:`.model`: codes, codelists, dimensions and flows (one flow per indicator).
- :mod:`.codelists`: the standard codelists (ILOSTAT code ids where ILOSTAT has them),
  each mapping the project's local codes to SDMX codes, in a :class:`CodelistRegistry`.
- :mod:`.structures` and :mod:`.versions`: the data structure of each flow, and a
  release — every structure one structure message carries, versioned against the
  previous release.
- :mod:`.structure_message`: the SDMX-ML 2.1 structure message, and reading it back.
- :mod:`.observations`: an indicator table checked and recoded to SDMX codes.
- :mod:`.data_csv`, :mod:`.data_json`, :mod:`.data_xml`: SDMX-CSV, SDMX-JSON and
  SDMX-ML 2.1 structure-specific data messages; :mod:`.data_schema`: the XML schema a
  flow's SDMX-ML data validates against.
"""
