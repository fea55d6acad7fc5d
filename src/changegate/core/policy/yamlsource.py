"""YAML with positions: parse a document and remember the line of every field.

Validation errors must name file, line and field. PyYAML's composed node tree
carries marks; we walk it once to build ``{("approvals", "matrix", 0, "roles"): 12}``
and to refuse duplicate keys, which plain ``yaml.safe_load`` silently overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class YamlSourceError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    lines: dict[Path_, int]  # 1-based line of each mapping key / sequence item
    filename: str

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path`` or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def locate(self, path: Path_) -> str:
        line = self.line_of(path)
        field = ".".join(str(p) for p in path) or "(document)"
        return f"{self.filename}:{line or 1}: {field}"


def parse_yaml(text: str, filename: str) -> YamlDocument:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        raise YamlSourceError([f"{filename}:{line}:{col}: malformed YAML: {exc.problem or exc}"]) from exc
    if node is None:
        return YamlDocument({}, {}, filename)
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    problems: list[str] = []
    # Build each scalar on its own first: a value YAML cannot construct (2026-02-30, "!!int soon")
    # is then reported at its own line instead of failing the whole load without a position.
    constructor = yaml.constructor.SafeConstructor()

    seen_nodes: set[int] = set()

    def walk(n: yaml.Node, path: Path_) -> None:
        # An alias is the same node met twice. Policies refuse them: a recursive alias never ends,
        # and nested shared aliases multiply the document exponentially ("billion laughs").
        if id(n) in seen_nodes:
            field = ".".join(str(p) for p in path) or "(document)"
            problems.append(f"{filename}:{n.start_mark.line + 1}: {field}: YAML anchors and aliases are not "
                            "supported in policy files; write the values out")
            return
        if isinstance(n, (yaml.MappingNode, yaml.SequenceNode)):
            seen_nodes.add(id(n))
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in n.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    field = ".".join(str(p) for p in path) or "(document)"
                    problems.append(f"{filename}:{key_node.start_mark.line + 1}: {field}: a key must be a plain "
                                    "name, not a list or a mapping")
                    continue
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in seen:
                    field = ".".join(str(p) for p in (*path, key))
                    problems.append(f"{filename}:{line}: {field}: duplicate key (first at line {seen[key]})")
                seen[key] = line
                lines[(*path, key)] = line
                walk(value_node, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))
        else:
            try:
                constructor.construct_object(n, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                field = ".".join(str(p) for p in path) or "(document)"
                reason = getattr(exc, "problem", None) or str(exc)
                problems.append(f"{filename}:{n.start_mark.line + 1}: {field}: cannot read {n.value!r}: {reason}")

    walk(node, ())
    if problems:
        raise YamlSourceError(problems)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # constructor errors, e.g. a bad timestamp
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise YamlSourceError([f"{filename}:{line}: invalid value: {getattr(exc, 'problem', exc)}"]) from exc
    return YamlDocument(data, lines, filename)
