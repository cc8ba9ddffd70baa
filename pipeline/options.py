"""Stage options: declared as attrs fields, checked and converted from TOML values.

A stage's attrs fields are its config schema. :func:`option` declares one with a help
text; :func:`option_specs` reads the schema back (for ``pipeline check``, ``pipeline
describe`` and the docs); :func:`build_stage` turns a TOML table into a stage instance,
raising :class:`~docstage.errors.ConfigError` that names the option at fault.
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import attrs

from docstage.errors import ConfigError, Problems, did_you_mean, one_of

T = TypeVar("T")

#: Keys of a ``[[stages]]`` table that are not options of the stage.
# attrs.Factory is typed as a function for mypy; at run time it is the class we test for.
_FACTORY: Any = attrs.Factory

RESERVED_KEYS = ("use", "name")


def option(
    default: Any = attrs.NOTHING,
    *,
    help: str,
    factory: Callable[[], Any] | None = None,
    path: bool = False,
    validator: Any = None,
    converter: Any = None,
) -> Any:
    """Declare one stage option as an attrs field.

    Args:
        default: The value used when the config leaves the option out; omit it to make
            the option required.
        help: One or two sentences for ``pipeline describe`` and the docs.
        factory: Builds a fresh default (for lists and dicts) instead of ``default``.
        path: The value is a file, folder or glob; a relative value is resolved against
            the folder of the config file.
        validator: An attrs validator (or list of them) for invariants such as ranges.
        converter: An attrs converter applied after type checking.
    """
    metadata = {"help": help, "path": path}
    if factory is not None:
        return attrs.field(
            factory=factory, validator=validator, converter=converter, metadata=metadata
        )
    return attrs.field(default=default, validator=validator, converter=converter, metadata=metadata)


#: An attrs validator: takes the instance, the attribute and the value; raises ValueError.
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def at_least(minimum: float, *, whole: bool = False, why: str = "") -> Validator:
    """A validator for an option that must be ``minimum`` or more (and finite).

    The message names the option and the bound, and :func:`build_stage` shows it on the
    config error's line: ``'batch_size' must be at least 1, got 0``.

    Args:
        minimum: The smallest value allowed.
        whole: The value must be an integer too ("must be a whole number of at least 1").
        why: A reason, shown in brackets after the bound.
    """

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        number = _number(attribute, value)
        if not minimum <= number < math.inf or (whole and not isinstance(value, int)):
            bound = f"a whole number of at least {minimum}" if whole else f"at least {minimum}"
            reason = f" ({why})" if why else ""
            raise ValueError(f"'{attribute.name}' must be {bound}{reason}, got {value!r}")

    return check


def above(bound: float) -> Validator:
    """A validator for an option that must be more than ``bound`` (and finite)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not bound < _number(attribute, value) < math.inf:
            raise ValueError(f"'{attribute.name}' must be above {bound}, got {value!r}")

    return check


def between(low: float, high: float, *, above_low: bool = False) -> Validator:
    """A validator for an option from ``low`` to ``high``, both included unless ``above_low``.

    The message reads ``'min_fraction' must be between 0 and 1, got 1.5`` or, with
    ``above_low``, ``'threshold' must be above 0 and at most 1, got 0``.
    """

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        number = _number(attribute, value)
        inside = low < number <= high if above_low else low <= number <= high
        if not inside:
            span = f"above {low} and at most {high}" if above_low else f"between {low} and {high}"
            raise ValueError(f"'{attribute.name}' must be {span}, got {value!r}")

    return check


_UNITS = {"": 1, "b": 1}
for _prefix, _power in (("k", 1), ("m", 2), ("g", 3), ("t", 4)):
    _UNITS[_prefix] = _UNITS[f"{_prefix}b"] = 1000**_power
    _UNITS[f"{_prefix}ib"] = 1 << (10 * _power)
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(value: int | str) -> int:
    """Bytes from ``1073741824``, ``"1 GiB"``, ``"512MB"`` or ``"2g"`` (case ignored;
    ``k``/``kb`` are 1000 bytes, ``kib`` 1024).

    Raises:
        ValueError: Not a size; the message shows the forms accepted.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f'expected a size such as "1 GiB", "512MB" or a number of bytes, got {value!r}'
        )
    return int(float(match.group(1)) * _UNITS[unit])


def size(minimum: int = 0) -> Validator:
    """A validator for a size option (:func:`parse_size`) of at least ``minimum`` bytes."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        try:
            number = parse_size(value)
        except ValueError as exc:
            raise ValueError(f"'{attribute.name}': {exc}") from None
        if number < minimum:
            raise ValueError(
                f"'{attribute.name}' must be at least {minimum:,} bytes, got {value!r}"
            )

    return check


def _number(attribute: attrs.Attribute[Any], value: Any) -> float:
    """The value as a float, for the range validators; raise if it is no number.

    Options read from TOML are type-checked before; this catches values passed from Python.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"'{attribute.name}' must be a number, got {value!r}")
    return float(value)


@attrs.frozen
class OptionSpec:
    """One option of a stage type, as read from its attrs class."""

    name: str
    type: Any
    required: bool
    default: Any
    help: str
    path: bool

    @property
    def type_name(self) -> str:
        return describe_type(self.type)


def option_specs(cls: type[Any]) -> list[OptionSpec]:
    """Return the options of a stage class, in declaration order."""
    if not attrs.has(cls):
        return []
    hints = typing.get_type_hints(cls)
    specs = []
    for field in attrs.fields(cls):
        if not field.init or field.name.startswith("_"):
            continue
        required = field.default is attrs.NOTHING
        default: Any = None
        if isinstance(field.default, _FACTORY):
            default = field.default.factory()
        elif not required:
            default = field.default
        specs.append(
            OptionSpec(
                name=field.name,
                type=hints.get(field.name, Any),
                required=required,
                default=default,
                help=str(field.metadata.get("help", "")),
                path=bool(field.metadata.get("path", False)),
            )
        )
    return specs


class _Mismatch(Exception):
    """A value does not fit a type; the message says what was expected."""


def describe_type(hint: Any) -> str:
    """A short, user-facing name for a type hint (``list of strings``, ``'a' or 'b'``)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return "any value"
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    if origin in (list, tuple, frozenset, set) or hint in (list, tuple):
        inner = describe_type(args[0]) if args else "any value"
        plurals = {
            "a string": "strings",
            "an integer": "integers",
            "a number": "numbers",
            "true or false": "booleans",
            "a path": "paths",
            "a table": "tables",
        }
        return f"a list of {plurals.get(inner, inner)}"
    if origin is dict or hint is dict:
        return "a table"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if hint in names:
        return names[hint]
    if hint is Path:
        return "a path"
    return getattr(hint, "__name__", str(hint))


def _toml_type(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def coerce(value: Any, hint: Any) -> Any:
    """Check ``value`` (from TOML) against ``hint`` and convert it; raise _Mismatch."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Literal:
        if value in args:
            return value
        hint_text = did_you_mean(value, [str(a) for a in args]) if isinstance(value, str) else ""
        raise _Mismatch(
            f"must be one of {', '.join(repr(a) for a in args)}, got {value!r}{hint_text}"
        )
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch(f"must be {describe_type(hint)}")
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list):
            raise _Mismatch(f"must be {describe_type(hint)}, not {_toml_type(value)}")
        inner = args[0] if args else Any
        items = [coerce(item, inner) for item in value]
        return tuple(items) if (origin or hint) is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch(f"must be a table, not {_toml_type(value)}")
        inner = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, inner) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Path:
        if isinstance(value, str):
            return Path(value)
    elif isinstance(hint, type):
        if isinstance(value, hint):
            return value
    else:
        return value
    raise _Mismatch(f"must be {describe_type(hint)}, not {_toml_type(value)}")


def resolve_path(value: str | Path, base: Path) -> str:
    """Resolve a relative path or glob against ``base``; ``~`` expands to the home folder."""
    text = os.path.expanduser(str(value))
    if os.path.isabs(text):
        return text
    return os.path.normpath(os.path.join(base, text))


def build_stage(
    cls: type[T],
    options: Mapping[str, Any],
    *,
    config_dir: Path,
    error: Callable[[str, str | None], ConfigError],
) -> T:
    """Instantiate stage class ``cls`` from the TOML ``options`` of one ``[[stages]]`` table.

    Args:
        cls: The stage type's attrs class.
        options: The table's keys other than ``use`` and ``name``.
        config_dir: Base folder for path options.
        error: Builds the ConfigError for a message about an option (or the stage, when
            the option is None), adding file, line and stage.

    Raises:
        ConfigError: What is wrong with the options: every problem found
            (:class:`~docstage.errors.ConfigErrors` when there are several).
    """
    problems = Problems()
    instance = collect_stage(cls, options, config_dir=config_dir, error=error, problems=problems)
    problems.check()
    assert instance is not None
    return instance


def collect_stage(
    cls: type[T],
    options: Mapping[str, Any],
    *,
    config_dir: Path,
    error: Callable[[str, str | None], ConfigError],
    problems: Problems,
    excused: Collection[str] = (),
) -> T | None:
    """As :func:`build_stage`, but add every problem of the table to ``problems``.

    Every option is checked: unknown names (with the closest valid one), missing required
    options, values of the wrong type, and values the class's validators reject.

    Args:
        excused: Options already reported (an unset ``${VAR}``): not checked again, and
            not missing.

    Returns:
        The instance, or None when a problem was found.
    """
    before = len(problems)
    specs = {spec.name: spec for spec in option_specs(cls)}
    for key in options:
        if key not in specs:
            valid = one_of(specs) if specs else "(this stage takes no options)"
            problems.add(
                error(
                    f"unknown option '{key}'{did_you_mean(key, specs)}; valid options: {valid}",
                    key,
                )
            )
    for name, spec in specs.items():
        if spec.required and name not in options and name not in excused:
            problems.add(
                error(f"missing required option '{name}' ({spec.type_name}): {spec.help}", None)
            )
    values: dict[str, Any] = {}
    for key, raw in options.items():
        known = specs.get(key)
        if known is None or key in excused:
            continue
        try:
            value = coerce(raw, known.type)
        except _Mismatch as exc:
            problems.add(error(f"option '{key}' {exc}", key))
            continue
        if known.path and value is not None:
            if isinstance(value, list):
                value = [resolve_path(v, config_dir) for v in value]
            else:
                resolved = resolve_path(value, config_dir)
                value = Path(resolved) if isinstance(value, Path) else resolved
        values[key] = value
    for name, spec in specs.items():
        # A relative default path means the config's folder too, like a written one.
        if spec.path and name not in options and isinstance(spec.default, (str, Path)):
            resolved = resolve_path(spec.default, config_dir)
            values[name] = Path(resolved) if isinstance(spec.default, Path) else resolved
    # The validators run when the class is built, and stop at the first value they
    # reject: build it again without that value (its default instead) to find the next.
    while True:
        try:
            instance = cls(**values)
        except (ValueError, TypeError) as exc:
            message = str(exc) or type(exc).__name__
            culprit = next((k for k in options if k in values and f"'{k}'" in message), None)
            if culprit is None and (len(problems) > before or excused):
                break  # e.g. a required option already reported as wrong: nothing new
            problems.add(error(f"invalid option value: {message}", culprit))
            if culprit is None:
                break
            del values[culprit]
            continue
        return instance if len(problems) == before else None
    return None
