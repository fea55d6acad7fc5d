"""changegate: change & release management control plane for production systems."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up on first use only, and read from the installed METADATA directly: importing
    # importlib.metadata (email parsing and all) costs ~50 ms, a third of ``changegate --version``.
    if name != "__version__":
        raise AttributeError(f"module 'changegate' has no attribute {name!r}")
    value = _installed_version()
    globals()["__version__"] = value
    return value


def _installed_version() -> str:
    import sys
    from pathlib import Path

    for entry in sys.path:
        for metadata in sorted(Path(entry or ".").glob("changegate-*.dist-info/METADATA")):
            try:
                for line in metadata.read_text(encoding="utf-8").splitlines():
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line:
                        break
            except OSError:
                continue
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("changegate")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0+unknown"
