"""``pipeline new-plugin``: a plugin distribution that installs and passes its tests as made.

The files come from ``pipeline/templates/plugin/`` (Jinja2, one template per file); the
name given on the command line becomes the distribution and plugin name (``acme-tagger``),
the package (``acme_tagger``) and the stage (``acme_tagger.tag``).
"""

from __future__ import annotations

import keyword
import re
from importlib import resources
from pathlib import Path

import jinja2

from docstage import __version__
from docstage.errors import DocstageError

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

#: Template -> path in the new distribution ("{module}" is the package folder).
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "tox.ini.tmpl": "tox.ini",
    "__init__.py.tmpl": "{module}/__init__.py",
    "test_plugin.py.tmpl": "tests/test_{module}.py",
    "example.toml.tmpl": "example.toml",
    "article-port.txt.tmpl": "articles/eastmere-ferry.txt",
    "article-garden.txt.tmpl": "articles/allotments.txt",
}


def check_name(name: str) -> str:
    """The package name for plugin ``name``.

    Raises:
        DocstageError: Not a usable name: lower-case letters, digits, ``-`` or ``_``,
            starting with a letter, and not ``docstage``'s own prefix.
    """
    if not _NAME.fullmatch(name):
        raise DocstageError(
            f"plugin name {name!r}: use lower-case letters, digits and '-' or '_' between "
            "them, starting with a letter (e.g. acme-tagger)"
        )
    if name == "docstage" or name.startswith(("docstage.", "docstage-", "docstage_")):
        raise DocstageError(
            f"plugin name {name!r}: names starting with 'docstage' are docstage's own plugins"
        )
    module = name.replace("-", "_")
    if keyword.iskeyword(module):
        raise DocstageError(f"plugin name {name!r}: {module!r} is a Python keyword")
    return module


def new_plugin(name: str, folder: Path) -> list[Path]:
    """Write the distribution of plugin ``name`` into ``folder`` (which must not exist or
    be empty); return the files written.

    Raises:
        DocstageError: A bad name, or ``folder`` holds files already.
    """
    module = check_name(name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise DocstageError(f"{folder}: already exists and is not empty; choose another --dir")
    values = {
        "plugin": name,
        "dist": name,
        "module": module,
        "stage": f"{module}.tag",
        "summary": "tags documents with the keywords they mention.",
        "docstage_version": __version__,
    }
    environment = jinja2.Environment(
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False
    )
    templates = resources.files("docstage") / "templates" / "plugin"
    written: list[Path] = []
    try:
        for template, target in FILES.items():
            text = environment.from_string(
                (templates / template).read_text(encoding="utf-8")
            ).render(values)
            path = folder / target.format(module=module)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise DocstageError(f"{folder}: cannot write the plugin: {exc}") from None
    return written
