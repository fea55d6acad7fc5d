"""Loading and checking the policy file: every problem names file, line and field."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..core.errors import PolicyError
from ..core.policy.model import Policy, cross_check
from ..core.policy.yamlsource import YamlSourceError, parse_yaml


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
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            # pydantic reports the failing union member or validator name after the field; drop
            # what is not a path in the document so the line lookup finds the real field.
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown field"
            elif err["type"] == "missing":
                message = "required field missing"
            problems.append(f"{doc.locate(loc)}: {message}")
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
