"""What changes a config's values before they are checked: ``--set`` overrides and
``${VAR}`` references to environment variables.

Both work on the parsed TOML data of :func:`docstage.config.load_config`; their errors
are :class:`~docstage.errors.ConfigError` naming the ``--set`` text or the option.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

from docstage.errors import ConfigError, did_you_mean, one_of
from docstage.options import RESERVED_KEYS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: The top-level tables of a config file.
SECTIONS = ("pipeline", "run", "stages")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``--set`` text ``stages.dedup.threshold=0.7`` into a key path and a value.

    The value is read as a TOML value (``0.7``, ``true``, ``["a", "b"]``); anything that is
    not valid TOML is taken as a plain string, so ``--set stages.read.files.path=x/*.txt``
    works without quotes.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. stages.dedup.threshold=0.7")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_override(data: dict[str, Any], text: str) -> None:
    """Apply one ``--set`` to the parsed TOML ``data``.

    Raises:
        ConfigError: The text is not ``KEY=VALUE``, or the key names no table or stage.
    """
    parts, value = parse_override(text)
    section = parts[0]
    if section in ("pipeline", "run"):
        if len(parts) != 2:
            raise ConfigError(f"--set {text!r}: expected {section}.OPTION=VALUE")
        data.setdefault(section, {})[parts[1]] = value
        return
    if section != "stages":
        raise ConfigError(
            f"--set {text!r}: unknown section '{section}'{did_you_mean(section, SECTIONS)}; "
            "expected stages.NAME.OPTION, run.OPTION or pipeline.OPTION"
        )
    stages = data.get("stages")
    if not isinstance(stages, list) or len(parts) < 3:
        raise ConfigError(f"--set {text!r}: expected stages.NAME.OPTION=VALUE")
    rest = ".".join(parts[1:])
    matches: list[tuple[int, str]] = []
    for number, table in enumerate(stages, start=1):
        if not isinstance(table, dict):
            continue
        names = {str(number), f"#{number}", str(table.get("name", table.get("use", "")))}
        for name in names:
            if rest.startswith(name + ".") and "." not in rest[len(name) + 1 :]:
                matches.append((number, rest[len(name) + 1 :]))
                break
    if not matches:
        known = [str(t.get("name", t.get("use"))) for t in stages if isinstance(t, dict)]
        raise ConfigError(
            f"--set {text!r}: no stage matches; stages in this config: {one_of(known)} "
            "(or use the stage's number, e.g. stages.2.OPTION)"
        )
    if len(matches) > 1:
        numbers = ", ".join(f"stages.{n}.{opt}" for n, opt in matches)
        raise ConfigError(f"--set {text!r}: several stages match; say which: {numbers}")
    number, key = matches[0]
    if key in RESERVED_KEYS:
        raise ConfigError(f"--set {text!r}: '{key}' cannot be overridden")
    stages[number - 1][key] = value


def expand_env(value: Any, fail: Callable[[str], ConfigError]) -> Any:
    """``value`` (a TOML value: strings inside lists and tables too) with every ``${VAR}``
    and ``${VAR:-default}`` replaced, as the shell does.

    Raises:
        ConfigError: ``fail(message)`` for a variable that is not set and has no default.
    """
    if isinstance(value, str):
        if "${" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is None or (found == "" and default is not None):  # as the shell's :-
                if default is None:
                    raise fail(
                        f"environment variable '{name}' is not set "
                        f"(set it, or write ${{{name}:-default}})"
                    )
                return default
            return found

        return _ENV.sub(substitute, value)
    if isinstance(value, list):
        return [expand_env(item, fail) for item in value]
    if isinstance(value, dict):
        return {key: expand_env(item, fail) for key, item in value.items()}
    return value
