"""Loading and checking the policy file: every problem names file, line and field."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..core.errors import PolicyError
from ..core.policy.model import Policy, cross_check
from ..core.policy.yamlsource import YamlSourceError, parse_yaml
from ..schemas.common import problems as validation_problems


def parse_policy(text: str, filename: str) -> Policy:
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


def load_policy(path: Path) -> Policy:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(f"{path}: invalid policy",
                          problems=(f"{path}:{line}: (document): not UTF-8 text (byte 0x{raw[exc.start]:02x})",)) from exc
    return parse_policy(text, str(path))
