"""Pipeline configs: a TOML file becomes frozen config objects, or clear errors.

The file has three parts: ``[pipeline]`` (name and plugins), ``[run]`` (how to execute)
and ``[[stages]]`` (the ordered document path). Stage options stay raw here; they are
checked against the stage type's schema when the plan is resolved (:mod:`docstage.resolve`),
because only then is the stage type known. Every error names the file and line, the
place in the file and, where it helps, the valid choices; every error found is reported,
not only the first (:class:`~docstage.errors.Problems`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from docstage.errors import ConfigError, Problems, did_you_mean, display
from docstage.options import (
    RESERVED_KEYS,
    above,
    at_least,
    build_stage,
    collect_stage,
    option,
    parse_size,
    size,
)
from docstage.overrides import SECTIONS, apply_override, expand_env
from docstage.overrides import parse_override as parse_override  # public here too

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_\-]+)\s*=")
_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


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
        "call gets that per document. Not set: no limit. POSIX only (a SIGALRM timer in the "
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
        line = self.line("run", option)
        return ConfigError(message, file=self.display_path, line=line, where="[run]", option=option)

    def stage_error(self, stage: StageConfig, message: str, option: str | None) -> ConfigError:
        """A ConfigError about ``stage`` (and its ``option``), located in the file."""
        line = stage.option_lines.get(option, stage.line) if option else stage.line
        return ConfigError(
            message, file=self.display_path, line=line, where=stage.where, option=option
        )


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


def load_config(
    path: str | Path, overrides: Sequence[str] = (), *, problems: Problems | None = None
) -> Config:
    """Read and check a pipeline config file.

    Args:
        path: The TOML file.
        overrides: ``--set`` expressions, applied after reading and before checking.
        problems: Where to collect the errors after which the stages can still be
            resolved (a bad ``[run]`` value, an unset ``${VAR}``, a bad ``--set``), for
            :func:`docstage.resolve.make_plan` to report with its own. Without it, they
            are raised here.

    Raises:
        ConfigError: With file, line and the fix, for every problem found
            (:class:`~docstage.errors.ConfigErrors` when there are several); with
            ``problems``, only when the stages cannot be resolved (a TOML syntax error,
            a bad ``[pipeline]`` table, no stages), then with every problem so far.
    """
    found = Problems() if problems is None else problems
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
        with found.collect():
            apply_override(data, text)
    config = _build(config_path, data, lines, found)
    if problems is None:
        found.check()
    return config


def config_from_dict(data: Mapping[str, Any], folder: str | Path) -> Config:
    """Build a config from already-parsed TOML data (tests, embedding docstage).

    Relative paths resolve against ``folder``; errors name ``<memory>`` as the file.
    """
    found = Problems()
    config = _build(Path(folder).absolute() / "<memory>.toml", dict(data), _LineIndex(), found)
    found.check()
    return config


def _build(path: Path, data: dict[str, Any], lines: _LineIndex, problems: Problems) -> Config:
    """The config of ``data``, every problem found added to ``problems``.

    Raises:
        ConfigError: Every problem so far, when the stages could not be resolved.
    """
    shown = display(path)
    for key in data:
        if key not in SECTIONS:
            problems.add(
                ConfigError(
                    f"unknown table or key '{key}'{did_you_mean(key, SECTIONS)}; "
                    f"valid top-level tables: [pipeline], [run], [[stages]]",
                    file=shown,
                    line=lines.line(key) or lines.line("", key),
                )
            )
    reported = len(problems)
    pipeline = _section(path, data, lines, problems, "pipeline", PipelineSection)
    # Stage types come from the plugins: with a doubt about which to load, resolving the
    # stages would report types as unknown that are not.
    plugins_known = all(getattr(e, "option", None) == "name" for e in problems.errors[reported:])
    run = _section(path, data, lines, problems, "run", RunSection)
    raw_stages = data.get("stages", [])
    if not isinstance(raw_stages, list) or not all(isinstance(t, dict) for t in raw_stages):
        problems.add(ConfigError("'stages' must be an array of tables: [[stages]]", file=shown))
        problems.check()
    if not raw_stages:
        problems.add(
            ConfigError(
                "the pipeline has no stages: add [[stages]] tables, starting with a reader "
                'such as use = "read.files"',
                file=shown,
            )
        )
    stages = []
    for number, table in enumerate(raw_stages, start=1):
        stage = _stage(shown, number, table, lines, problems)
        if stage is not None:
            stages.append(stage)
    if not plugins_known or not raw_stages:
        problems.check()
    return Config(path=path, pipeline=pipeline, run=run, stages=tuple(stages), lines=lines)


def _section(
    path: Path,
    data: dict[str, Any],
    lines: _LineIndex,
    problems: Problems,
    name: str,
    cls: type[Any],
) -> Any:
    """The ``[pipeline]`` or ``[run]`` table; with a problem, its defaults."""
    shown = display(path)

    def error(message: str, option: str | None) -> ConfigError:
        line = lines.line(name, option)
        return ConfigError(message, file=shown, line=line, where=f"[{name}]", option=option)

    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.add(ConfigError(f"'{name}' must be a table: [{name}]", file=shown))
        table = {}
    expanded = {}
    for key, value in table.items():

        def fail(message: str, key: str = key) -> ConfigError:
            return error(f"option '{key}': {message}", key)

        with problems.collect():
            expanded[key] = expand_env(value, fail)
    excused = problems.options(f"[{name}]")
    found = collect_stage(
        cls, expanded, config_dir=path.parent, error=error, problems=problems, excused=excused
    )
    return found if found is not None else build_stage(cls, {}, config_dir=path.parent, error=error)


def _stage(
    shown: str, number: int, table: dict[str, Any], lines: _LineIndex, problems: Problems
) -> StageConfig | None:
    """One ``[[stages]]`` table, its values expanded; None without a ``use``."""
    header = lines.line("stages", stage=number)
    use = table.get("use")
    if not isinstance(use, str) or not use:
        problems.add(
            ConfigError(
                "missing 'use': every [[stages]] table names its stage type, "
                'e.g. use = "read.files"',
                file=shown,
                line=header,
                where=f"[[stages]] #{number}",
            )
        )
        return None
    stage = StageConfig(
        index=number,
        use=use,
        name=str(table.get("name", use)),
        options={k: v for k, v in table.items() if k not in RESERVED_KEYS},
        line=header,
        option_lines=dict(lines.keys.get(("stages", number), {})),
    )
    expanded = {}
    for key, value in stage.options.items():

        def fail(message: str, key: str = key) -> ConfigError:
            line = stage.option_lines.get(key, stage.line)
            return ConfigError(
                f"option '{key}': {message}",
                file=shown,
                line=line,
                where=stage.where,
                option=key,
            )

        with problems.collect():
            expanded[key] = expand_env(value, fail)
    return attrs.evolve(stage, options=expanded)
