"""changegate: change & release management control plane for production systems."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up on first use only: importlib.metadata costs ~50 ms, a third of a CLI call's budget.
    if name != "__version__":
        raise AttributeError(f"module 'changegate' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("changegate")
    except PackageNotFoundError:  # running from a source tree without installation
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
