"""changegate: change & release management control plane for production systems."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("changegate")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
