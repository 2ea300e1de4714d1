"""Errors of the synthetic-nation generator."""

from __future__ import annotations

from lmis_hub.errors import HubError


class SynthError(HubError):
    """The synthetic nation could not be made; fix what the message names (often --out)."""

    code = "synth.error"
    http_status = 500


class SynthConfigError(SynthError):
    """The generator's configuration is invalid; fix the named field of the YAML file."""

    code = "synth.config_invalid"
    http_status = 400


class NationNotFound(SynthError):
    """No nation manifest in the folder; run `lmis-hub synth make` first or fix --out."""

    code = "synth.nation_not_found"
    http_status = 404


class NationExists(SynthError):
    """The output folder already holds a nation; choose another --out or pass --overwrite."""

    code = "synth.nation_exists"
    http_status = 409


class InvalidNationalId(SynthError):
    """A national ID failed its format or check-digit test; correct the number."""

    code = "synth.invalid_national_id"
    http_status = 400
