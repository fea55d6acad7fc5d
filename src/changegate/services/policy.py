"""Loading and checking the policy file: every problem names file, line and field."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from pydantic import VERSION as PYDANTIC_VERSION, ValidationError

from ..core.errors import PolicyError
from ..core.policy.model import Policy, cross_check
from ..schemas.common import problems as validation_problems
from .policy_quick import store_quick


def parse_policy(text: str, filename: str) -> Policy:
    from ..core.policy.yamlsource import YamlSourceError, parse_yaml  # YAML: only when not cached

    try:
        doc = parse_yaml(text, filename)
    except YamlSourceError as exc:
        raise PolicyError(f"{filename}: invalid policy", problems=tuple(exc.problems)) from exc
    if not isinstance(doc.data, dict):
        raise PolicyError(f"{filename}: invalid policy",
                          problems=(f"{filename}:1: (document): the policy must be a mapping of sections",))
    try:
        policy = Policy.model_validate(doc.data)
    except ValidationError as exc:
        problems = [f"{doc.locate(p.loc)}: {p.message}" for p in validation_problems(exc)]
        raise PolicyError(f"{filename}: invalid policy", problems=tuple(problems)) from exc
    problems = [f"{doc.locate(path)}: {message}" for path, message in cross_check(policy)]
    if problems:
        raise PolicyError(f"{filename}: invalid policy", problems=tuple(problems))
    return policy


def load_policy(path: Path, *, cache_dir: Path | None = None) -> Policy:
    """The validated policy in ``path``; with ``cache_dir``, parsed once per file content and code version."""
    raw = _read(path)
    if cache_dir is None:
        return _parse_bytes(raw, path)
    cached = Path(cache_dir) / f"policy-{_cache_key(raw)}.pickle"
    try:
        policy = pickle.loads(cached.read_bytes())
        if isinstance(policy, Policy):
            store_quick(cache_dir, raw, policy)  # the plain entry, if this code has not written it yet
            return policy
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass  # absent, unreadable or from other code: parse again
    policy = _parse_bytes(raw, path)  # an invalid policy raises here and is never cached
    _store(cached, pickle.dumps(policy, protocol=pickle.HIGHEST_PROTOCOL))
    store_quick(cache_dir, raw, policy)  # what next-slot reads without pydantic (policy_quick.py)
    return policy


# The code that gives a policy its meaning: a cached policy is only reused by the same code.
# The sections kept beside their areas (core/schedule/policy.py, core/gate/policy.py, core/cmdb/policy.py) count too.
_CORE = Path(__file__).resolve().parent.parent / "core"
_CODE = [Path(__file__), *(_CORE / "policy").glob("*.py"), *_CORE.glob("*/policy.py")]


def _cache_key(raw: bytes) -> str:
    digest = hashlib.sha256(raw)
    digest.update(f"pydantic {PYDANTIC_VERSION};".encode())
    for source in sorted(_CODE):
        try:
            st = source.stat()
        except OSError:
            continue
        digest.update(f"{source.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:32]


def _store(target: Path, data: bytes) -> None:
    """Write atomically; a cache that cannot be written only costs the next call a parse."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError:
        pass


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror}") from exc


def _parse_bytes(raw: bytes, path: Path) -> Policy:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(f"{path}: invalid policy",
                          problems=(f"{path}:{line}: (document): not UTF-8 text (byte 0x{raw[exc.start]:02x})",)) from exc
    return parse_policy(text, str(path))
