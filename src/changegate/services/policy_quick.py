"""The policy's schedule facts as plain data, cached beside the validated policy: read without pydantic.

``policy.load_policy`` validates the file fully (file:line errors) and, once it has a valid policy, writes
what ``schedule next-slot`` needs as JSON (``policy-quick-KEY.json``): the environments and their sites,
who may read changes, and the ``schedule:`` section (``core/schedule/rules.py``: windows, blackouts, zones,
the holidays of the years around now). KEY is the file's content hash and the policy code's version, so a
changed file, or new code, finds no entry and the caller takes the full path: an invalid file is never
answered from here. Loading it costs no pydantic, no YAML and no ``holidays`` import (issue 13).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..core.schedule.rules import PlainSchedule, from_plain, to_plain

FORMAT = 1
# The code that gives a policy its meaning: an entry is only reused by the same code. The sections kept
# beside their areas (core/schedule/policy.py, core/gate/policy.py, core/cmdb/policy.py) count too.
_HERE = Path(__file__).resolve()
_CORE = _HERE.parent.parent / "core"
CODE = sorted([_HERE.with_name("policy.py"), _HERE, *(_CORE / "policy").glob("*.py"), *_CORE.glob("*/policy.py"),
               _CORE / "schedule" / "rules.py", _CORE / "authz.py"])
HOLIDAY_YEARS = (-1, 3)  # the holidays kept: from last year to three years ahead of the writing


@dataclass(frozen=True)
class QuickPolicy:
    """What a local next-slot reads from the policy."""

    sites: dict[str, str | None]  # environment -> site
    people: frozenset[str]
    readers: frozenset[str]  # people who may read changes (hold change.read)
    schedule: PlainSchedule


def _code_versions() -> str:
    parts = [f"format {FORMAT};"]
    # pydantic's version decides validation, and holidays' the holiday dates the entry holds computed: their
    # version files, found without importing them.
    library_files = []
    for library in ("pydantic", "holidays"):
        spec = find_spec(library)
        if spec and spec.origin:
            library_files.append(Path(spec.origin).with_name("version.py"))
    for source in [*CODE, *library_files]:
        try:
            st = source.stat()
        except OSError:
            continue
        parts.append(f"{source.name}:{st.st_size}:{st.st_mtime_ns};")
    return "".join(parts)


def quick_key(raw: bytes) -> str:
    digest = hashlib.sha256(raw)
    digest.update(_code_versions().encode())
    return digest.hexdigest()[:32]


def _entry(cache_dir: Path, raw: bytes) -> Path:
    return Path(cache_dir) / f"policy-quick-{quick_key(raw)}.json"


def store_quick(cache_dir: Path, raw: bytes, policy: Any, now: datetime | None = None) -> None:
    """Write the plain entry for a policy that passed the full validation (``policy.load_policy``)."""
    target = _entry(cache_dir, raw)
    if target.exists():
        return
    from ..core.authz import authorize
    from ..core.policy.model import Permission

    year = (now or datetime.now(timezone.utc)).year
    data = {
        "sites": {name: env.site for name, env in policy.environments.items()},
        "people": [p.id for p in policy.people],
        "readers": [p.id for p in policy.people if authorize(policy, p, Permission.CHANGE_READ).allowed],
        "schedule": to_plain(policy.schedule, range(year + HOLIDAY_YEARS[0], year + HOLIDAY_YEARS[1] + 1)),
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass  # a cache that cannot be written only costs the next call the full path


def load_quick(path: Path, cache_dir: Path) -> QuickPolicy | None:
    """The plain entry for the policy file's current content, None when there is none (then: the full path)."""
    try:
        data = json.loads(_entry(cache_dir, Path(path).read_bytes()).read_text(encoding="utf-8"))
        return QuickPolicy(sites=data["sites"], people=frozenset(data["people"]), readers=frozenset(data["readers"]),
                           schedule=from_plain(data["schedule"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
