"""Core of the LMIS Integration Hub: settings, the error vocabulary and logging."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lmis-hub")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
