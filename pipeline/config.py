"""Pipeline configs: a TOML file becomes frozen config objects, or one clear error.

The file has three parts: ``[pipeline]`` (name and plugins), ``[run]`` (how to execute)
and ``[[stages]]`` (the ordered document path). Stage options stay raw here; they are
checked against the stage type's schema when the plan is resolved (:mod:`docstage.plan`),
because only then is the stage type known. Every error names the file and line, the
place in the file and, where it helps, the valid choices.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from docstage.errors import ConfigError, did_you_mean, display, one_of
from docstage.options import (
    RESERVED_KEYS,
    above,
    at_least,
    build_stage,
    option,
    parse_size,
    size,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SECTIONS = ("pipeline", "run", "stages")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_\-]+)\s*=")
_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@attrs.frozen(kw_only=True)
class PipelineSection:
    """The ``[pipeline]`` table."""

    name: str = option("pipeline", help="A name for the pipeline, shown in logs and reports.")
    plugins: list[str] = option(
        factory=list,
        help="Extra plugin modules to load: importable module names or paths to .py files "
        "(relative to the config file).",
    )
    disabled_plugins: list[str] = option(
        factory=list,
        help="Installed plugins (by name, see `pipeline plugins`) not to load. "
        "DOCSTAGE_DISABLE_PLUGINS (comma-separated) adds more.",
    )


def _workers(instance: Any, attribute: attrs.Attribute[Any], value: int | str) -> None:
    if value != "auto" and int(value) < 1:
        raise ValueError(f"'{attribute.name}' must be at least 1 or \"auto\", got {value}")


def _exit_code(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 255:
        raise ValueError(f"'{attribute.name}' must be between 0 and 255, got {value}")


@attrs.frozen(kw_only=True)
class RunSection:
    """The ``[run]`` table."""

    executor: Literal["local", "processes", "ray"] = option(
        "local",
        help="Where stages run. 'local': one process, streaming. 'processes': per-document "
        "stages on a pool of worker processes, corpus stages here; same output as 'local'. "
        "'ray': per-document stages on a pool of Ray actors (pip install 'docstage[ray]').",
    )
    workers: int | Literal["auto"] = option(
        "auto",
        validator=_workers,
        help="Worker processes (or Ray actors) for the 'processes' and 'ray' executors; "
        "'auto': one per core this process may use.",
    )
    ray_address: str = option(
        "auto",
        help="The Ray cluster to use: 'auto' joins a running one or starts a local Ray; "
        "otherwise a cluster address such as '10.0.0.5:6379' (a Ray Client address, "
        "'ray://head:10001', also needs pip install 'ray[client]').",
    )
    incremental: bool = option(
        True,
        help="Reuse what earlier runs computed: a document a stage already processed with "
        "the same options is not processed again; a changed option reruns that stage and "
        "the ones after it.",
    )
    cache: str = option(
        ".docstage/cache",
        path=True,
        help="Folder of the run caches behind incremental runs and --resume: one SQLite file "
        "per pipeline name. Deleting it costs recomputation, never data.",
    )
    on_error: Literal["quarantine", "skip", "fail"] = option(
        "quarantine",
        help="What happens to a document a stage fails on: 'quarantine' writes it to the "
        "quarantine file and goes on, 'skip' counts it and goes on, 'fail' stops the run.",
    )
    document_timeout: float | None = option(
        None,
        validator=attrs.validators.optional(above(0)),
        help="Seconds a per-document stage may spend on one document before it fails with "
        "DocumentTimeout (quarantined, or as on_error says) and the run goes on; a batch "
        "call gets that per document. None: no limit. POSIX only (a SIGALRM timer in the "
        "process running the stage); code stuck inside a C call is stopped when it returns, "
        "and under processes and ray its worker is replaced once far past the deadline.",
    )
    duplicate_ids: Literal["quarantine", "rename"] = option(
        "quarantine",
        help="What happens to a document whose id a reader already gave in this run: "
        "'quarantine' quarantines the later one (reason: duplicate id, with where the first "
        "was read); 'rename' keeps it as ID#2 (ID#3, ...). Outputs, the manifest and the "
        "dedup index are keyed by id, so two documents never share one.",
    )
    quarantine: str = option(
        ".docstage/quarantine.jsonl",
        path=True,
        help="Where quarantined documents are written (JSONL, replaced by every run).",
    )
    state: str = option(
        ".docstage/state.sqlite",
        path=True,
        help="The state store: an SQLite file kept between runs (the dedup index, so that "
        "a later run deduplicates against earlier ones). Created only when a stage uses it.",
    )
    quarantine_exit_code: int = option(
        1,
        validator=_exit_code,
        help="Exit code of a run that finished with quarantined documents (0 to treat it "
        "as success).",
    )
    batch_size: int = option(
        256, validator=at_least(1), help="Documents handed to each stage at a time."
    )
    memory: int | str = option(
        "128 MiB",
        validator=size(minimum=1 << 20),
        help="Memory budget of the corpus stages (dedup, entities.link, cleanup.boilerplate): "
        'what they hold beyond it goes to temporary files. A size such as "512 MiB" or '
        '"4GB"; results do not depend on it, only speed does.',
    )

    @property
    def memory_bytes(self) -> int:
        """``memory`` in bytes."""
        return parse_size(self.memory)


@attrs.frozen(kw_only=True)
class StageConfig:
    """One ``[[stages]]`` table, before its options are checked against the stage type."""

    index: int
    use: str
    name: str
    options: Mapping[str, Any]
    line: int | None = None
    option_lines: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def where(self) -> str:
        return f"[[stages]] #{self.index} ({self.name})"


@attrs.frozen(kw_only=True)
class Config:
    """A loaded, validated pipeline config (stage options are checked later, by the plan)."""

    path: Path
    pipeline: PipelineSection
    run: RunSection
    stages: tuple[StageConfig, ...]
    lines: _LineIndex = attrs.field(eq=False, repr=False)

    def line(self, section: str, key: str | None = None) -> int | None:
        """The line of ``[section] key`` (or of the table) in the file, when found."""
        return self.lines.line(section, key)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def display_path(self) -> str:
        return display(self.path)

    def run_error(self, message: str, option: str) -> ConfigError:
        """A ConfigError about ``[run] option``, located in the file."""
        return ConfigError(
            message, file=self.display_path, line=self.line("run", option), where="[run]"
        )

    def stage_error(self, stage: StageConfig, message: str, option: str | None) -> ConfigError:
        """A ConfigError about ``stage`` (and its ``option``), located in the file."""
        line = stage.option_lines.get(option, stage.line) if option else stage.line
        return ConfigError(message, file=self.display_path, line=line, where=stage.where)


@attrs.define
class _LineIndex:
    """Where tables and keys are in the TOML source, for error messages."""

    tables: dict[tuple[str, int], int] = attrs.Factory(dict)
    keys: dict[tuple[str, int], dict[str, int]] = attrs.Factory(dict)

    @classmethod
    def scan(cls, source: str) -> _LineIndex:
        index = cls()
        section: tuple[str, int] = ("", 0)
        stage_count = 0
        for number, line in enumerate(source.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                name = header.group(2).strip().strip("\"'")
                if header.group(1) == "[[" and name == "stages":
                    stage_count += 1
                    section = ("stages", stage_count)
                else:
                    section = (name, 0)
                index.tables.setdefault(section, number)
                continue
            key = _KEY.match(line)
            if key:
                index.keys.setdefault(section, {}).setdefault(key.group(1).strip("\"'"), number)
        return index

    def line(self, section: str, key: str | None = None, stage: int = 0) -> int | None:
        where = (section, stage)
        if key is not None and key in self.keys.get(where, {}):
            return self.keys[where][key]
        if key is not None and section in ("pipeline", "run") and key in self.keys.get(("", 0), {}):
            return None
        return self.tables.get(where)


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


def _apply_override(data: dict[str, Any], text: str) -> None:
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


def _expand_env(value: Any, fail: Any) -> Any:
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
        return [_expand_env(item, fail) for item in value]
    if isinstance(value, dict):
        return {key: _expand_env(item, fail) for key, item in value.items()}
    return value


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read and check a pipeline config file.

    Args:
        path: The TOML file.
        overrides: ``--set`` expressions, applied after reading and before checking.

    Raises:
        ConfigError: With file, line and the fix, for any problem.
    """
    config_path = Path(path).expanduser().absolute()
    shown = display(config_path)
    try:
        source = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no such config file: {shown}") from None
    except IsADirectoryError:
        raise ConfigError(f"{shown} is a folder; give the path of a .toml file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {shown}: {exc}") from None
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _SYNTAX_POSITION.search(message)
        line = column = None
        if position:
            line, column = int(position.group(1)), int(position.group(2))
            message = message[: position.start()]
        raise ConfigError(
            f"TOML syntax error: {message}", file=shown, line=line, column=column
        ) from None
    lines = _LineIndex.scan(source)
    for text in overrides:
        _apply_override(data, text)
    return _build(config_path, data, lines)


def config_from_dict(data: Mapping[str, Any], folder: str | Path) -> Config:
    """Build a config from already-parsed TOML data (tests, embedding docstage).

    Relative paths resolve against ``folder``; errors name ``<memory>`` as the file.
    """
    return _build(Path(folder).absolute() / "<memory>.toml", dict(data), _LineIndex())


def _build(path: Path, data: dict[str, Any], lines: _LineIndex) -> Config:
    shown = display(path)
    for key in data:
        if key not in SECTIONS:
            raise ConfigError(
                f"unknown table or key '{key}'{did_you_mean(key, SECTIONS)}; "
                f"valid top-level tables: [pipeline], [run], [[stages]]",
                file=shown,
                line=lines.line(key) or lines.line("", key),
            )

    def section(name: str, cls: type[Any]) -> Any:
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"'{name}' must be a table: [{name}]", file=shown)

        def error(message: str, option_name: str | None) -> ConfigError:
            return ConfigError(
                message, file=shown, line=lines.line(name, option_name), where=f"[{name}]"
            )

        table = _expand_env(table, lambda message: error(message, None))
        return build_stage(cls, table, config_dir=path.parent, error=error)

    pipeline = section("pipeline", PipelineSection)
    run = section("run", RunSection)
    raw_stages = data.get("stages", [])
    if not isinstance(raw_stages, list) or not all(isinstance(t, dict) for t in raw_stages):
        raise ConfigError("'stages' must be an array of tables: [[stages]]", file=shown)
    if not raw_stages:
        raise ConfigError(
            "the pipeline has no stages: add [[stages]] tables, starting with a reader "
            'such as use = "read.files"',
            file=shown,
        )
    stages = []
    for number, table in enumerate(raw_stages, start=1):
        header = lines.line("stages", stage=number)
        use = table.get("use")
        if not isinstance(use, str) or not use:
            raise ConfigError(
                "missing 'use': every [[stages]] table names its stage type, "
                'e.g. use = "read.files"',
                file=shown,
                line=header,
                where=f"[[stages]] #{number}",
            )
        name = table.get("name", use)
        option_lines = dict(lines.keys.get(("stages", number), {}))
        stage = StageConfig(
            index=number,
            use=use,
            name=str(name),
            options={k: v for k, v in table.items() if k not in RESERVED_KEYS},
            line=header,
            option_lines=option_lines,
        )

        expanded = {}
        for key, value in stage.options.items():

            def fail(message: str, stage: StageConfig = stage, key: str = key) -> ConfigError:
                line = stage.option_lines.get(key, stage.line)
                return ConfigError(
                    f"option '{key}': {message}", file=shown, line=line, where=stage.where
                )

            expanded[key] = _expand_env(value, fail)
        stages.append(attrs.evolve(stage, options=expanded))
    return Config(path=path, pipeline=pipeline, run=run, stages=tuple(stages), lines=lines)
