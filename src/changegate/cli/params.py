"""Option values without pydantic: Typer 0.29 converts every option through a pydantic ``TypeAdapter``.

Typer builds one adapter per parameter of the command that runs (even for an option left unset), which
imports pydantic and its plugin loader: about 100 ms that ``changegate --url … gate`` would pay before its
one HTTP request, and that a bare httpx script never pays. Our options are almost all plain strings and
flags, whose conversion is the identity: ``light_values`` gives those parameters a converter that returns
the string, list of strings or flag as it came, and hands anything else (an int with bounds, a path, a
value of an unexpected type) to Typer's own converter, built on first use. So behaviour is Typer's for
every value; only the cost of the identity changes.

It reaches into Typer's runtime-conversion hook (``_TyperParameter._runtime_param``, Typer >= 0.25). Where
that hook is absent (another Typer), it changes nothing: the commands work as before, only slower, and
``tests/cli/test_startup.py`` (no pydantic on the remote gate) says so.
"""

from dataclasses import dataclass, field
from typing import Any

try:
    from typer._click import Context
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - a Typer without pydantic conversion: nothing to avoid
    RuntimeParam = None


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Identity(RuntimeParam):
        """Strings, lists of strings and flags as given; anything else through Typer's converter."""

        descriptor: Any = None
        _fallback: list = field(default_factory=list, compare=False)  # Typer's converter, once built

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if _is_plain(self.annotation, value):
                return list(value) if isinstance(value, (list, tuple)) else value
            if not self._fallback:
                self._fallback.append(build_runtime_param(self.descriptor))
            return self._fallback[0]._coerce_value(value, param=param, ctx=ctx)


def _is_plain(annotation: Any, value: Any) -> bool:
    if annotation is str:
        return isinstance(value, str)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation == list[str]:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return False


def _light(descriptor: Any) -> bool:
    """A parameter whose conversion is the identity: a plain str, list[str] or bool, no parser, path or choice."""
    if descriptor.annotation not in (str, bool) and descriptor.annotation != list[str]:
        return False
    info = descriptor.parameter_info
    return (getattr(info, "parser", None) is None and not descriptor.is_path and not descriptor.is_file
            and not descriptor.is_choice)


def light_values(command: Any, ctx: Any = None, *, recursive: bool = True) -> Any:
    """Give every plain str/bool parameter of ``command`` (and of its subcommands) the identity converter.

    ``ctx`` is the command's context, or a context for it under its parent's: the help option, which Typer
    builds on first use, is built here with the same settings (its names come from the context)."""
    if RuntimeParam is None:
        return command  # pragma: no cover
    ctx = ctx if ctx is not None else Context(command)
    help_option = command.get_help_option(ctx)
    for param in [*getattr(command, "params", ()), *([help_option] if help_option is not None else [])]:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None or not _light(descriptor):
            continue
        param._runtime_param = _Identity(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                                         descriptor=descriptor)
    for sub in getattr(command, "commands", {}).values() if recursive else ():
        light_values(sub, Context(sub, parent=ctx))
    return command
