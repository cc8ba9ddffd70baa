"""The plugin system: local file plugins, entry-point plugins, blocking, and plugin mistakes."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from docstage.cli import cli
from docstage.document import Document
from docstage.errors import PluginError
from docstage.loading import load_plugins
from docstage.plugins import hookimpl
from docstage.stages import Transform

REQUIRE_TEST_PLUGIN = os.environ.get("DOCSTAGE_REQUIRE_TEST_PLUGIN") == "1"

LOCAL_PLUGIN = '''\
from typing import ClassVar

import attrs

from docstage.options import option
from docstage.stages import Transform


@attrs.define(kw_only=True)
class Stamp(Transform):
    """Append a stamp to every document."""

    name: ClassVar[str] = "local.stamp"

    mark: str = option("[seen]", help="What to append.")

    def process(self, doc):
        return doc.evolve(text=doc.text + " " + self.mark)


def docstage_register_stages(registry):
    registry.add(Stamp)
'''


def config_text(extra_stage: str, plugins: str = "", disabled: str = "") -> str:
    return f"""\
[pipeline]
name = "plugin-test"
{plugins}
{disabled}

[[stages]]
use = "read.files"
path = "in/*.txt"

{extra_stage}

[[stages]]
use = "render.jsonl"
path = "out/docs.jsonl"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Ferry service resumes.\n", encoding="utf-8")
    (tmp_path / "in" / "b.txt").write_text("Council approves budget.\n", encoding="utf-8")
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def records(project: Path) -> list[dict]:
    lines = (project / "out" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_local_file_plugin_runs(project: Path) -> None:
    (project / "stamp.py").write_text(LOCAL_PLUGIN, encoding="utf-8")
    config = project / "p.toml"
    config.write_text(
        config_text(
            '[[stages]]\nuse = "local.stamp"\nmark = "[ok]"', plugins='plugins = ["./stamp.py"]'
        ),
        encoding="utf-8",
    )
    code, output = invoke("run", str(config))
    assert code == 0, output
    texts = sorted(r["text"] for r in records(project))
    assert texts == ["Council approves budget.\n [ok]", "Ferry service resumes.\n [ok]"]
    assert all(r["stages"] == ["read.files", "local.stamp"] for r in records(project))


def test_missing_local_plugin_file_is_a_config_error(project: Path) -> None:
    config = project / "p.toml"
    config.write_text(config_text("", plugins='plugins = ["./nope.py"]'), encoding="utf-8")
    code, output = invoke("check", str(config))
    assert code == 2
    assert "p.toml:3" in output
    assert "plugin './nope.py' failed to import" in output
    assert "no such file" in output


def test_local_plugin_with_syntax_error_names_it(project: Path) -> None:
    (project / "broken.py").write_text("def docstage_register_stages(registry)\n", "utf-8")
    config = project / "p.toml"
    config.write_text(config_text("", plugins='plugins = ["./broken.py"]'), encoding="utf-8")
    code, output = invoke("check", str(config))
    assert code == 2
    assert "plugin './broken.py' failed to import: SyntaxError" in output
    assert "Traceback" not in output


def shout_installed() -> bool:
    try:
        importlib.metadata.distribution("docstage-shout")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture
def shout() -> None:
    """The tiny third-party package of tests/plugins/docstage-shout, installed by tox."""
    if not shout_installed():
        if REQUIRE_TEST_PLUGIN:
            pytest.fail("docstage-shout missing: pip install -e tests/plugins/docstage-shout")
        pytest.skip("docstage-shout is not installed (tox installs it)")


@pytest.mark.usefixtures("shout")
def test_entry_point_plugin_is_listed_with_its_distribution() -> None:
    code, output = invoke("plugins")
    assert code == 0, output
    assert "shout" in output
    assert "docstage-shout 1.2.0" in output
    assert "docstage.readers" in output  # built-ins come through the same entry-point group


@pytest.mark.usefixtures("shout")
def test_entry_point_plugin_runs(project: Path) -> None:
    config = project / "p.toml"
    config.write_text(config_text('[[stages]]\nuse = "shout"\nmin_length = 24'), "utf-8")
    code, output = invoke("run", str(config))
    assert code == 0, output
    assert [r["text"] for r in records(project)] == ["COUNCIL APPROVES BUDGET.\n"]
    assert "shorter than min_length" in output  # the dropped reason in the summary


@pytest.mark.usefixtures("shout")
def test_disabled_plugin_is_not_loaded(project: Path) -> None:
    config = project / "p.toml"
    config.write_text(
        config_text('[[stages]]\nuse = "shout"', disabled='disabled_plugins = ["shout"]'), "utf-8"
    )
    code, output = invoke("check", str(config))
    assert code == 2
    assert "unknown stage 'shout'" in output
    found = load_plugins(disabled=["shout"])
    assert found.info("shout").status == "blocked"
    assert found.registry.get("shout") is None


@pytest.mark.usefixtures("shout")
def test_env_variable_blocks_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCSTAGE_DISABLE_PLUGINS", "shout, docstage.render")
    found = load_plugins()
    assert found.info("shout").status == "blocked"
    assert found.registry.get("render.jsonl") is None
    code, output = invoke("plugins")
    assert code == 0
    assert "blocked" in output


class Misspelled:
    def docstage_befor_run(self, run: object) -> None:  # not a hook
        pass


def test_misspelled_hook_is_rejected_naming_plugin_and_hook() -> None:
    with pytest.raises(PluginError) as caught:
        load_plugins(extra=[("acme-typo", Misspelled())])
    message = str(caught.value)
    assert "plugin 'acme-typo'" in message
    assert "unknown hook 'docstage_befor_run'" in message
    assert "did you mean 'docstage_before_run'" in message


class WrongArguments:
    @hookimpl
    def docstage_before_run(self, run: object, config: object) -> None:
        pass


def test_hook_with_unknown_argument_is_rejected() -> None:
    with pytest.raises(PluginError) as caught:
        load_plugins(extra=[("acme-args", WrongArguments())])
    message = str(caught.value)
    assert "plugin 'acme-args'" in message
    assert "docstage_before_run" in message
    assert "config" in message


class Copycat:
    @hookimpl
    def docstage_register_stages(self, registry: object) -> None:
        import attrs

        @attrs.define
        class Impostor(Transform):
            name = "read.files"

            def process(self, doc: Document) -> Document:
                return doc

        registry.add(Impostor)  # type: ignore[attr-defined]


def test_duplicate_stage_name_names_both_plugins() -> None:
    with pytest.raises(PluginError) as caught:
        load_plugins(extra=[("acme-copycat", Copycat())])
    message = str(caught.value)
    assert "'read.files'" in message
    assert "acme-copycat" in message
    assert "docstage.readers" in message
    assert "docstage " in message  # the distribution of the built-in


class Raises:
    @hookimpl
    def docstage_register_stages(self, registry: object) -> None:
        raise RuntimeError("database unreachable")


def test_plugin_raising_at_registration_is_named() -> None:
    with pytest.raises(PluginError) as caught:
        load_plugins(extra=[("acme-raises", Raises())])
    message = str(caught.value)
    assert "plugin 'acme-raises'" in message
    assert "RuntimeError: database unreachable" in message


def test_every_manager_is_new(project: Path) -> None:
    first = load_plugins(extra=[("acme-typo-free", object())])
    second = load_plugins()
    assert first.manager is not second.manager
    assert second.info("acme-typo-free") is None
