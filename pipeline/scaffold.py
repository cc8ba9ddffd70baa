"""``pipeline new-plugin``: a plugin distribution that installs and passes its tests as made.

The files come from ``pipeline/templates/plugin/`` (Jinja2, one template per file); the
name given on the command line becomes the distribution and plugin name (``acme-tagger``),
the package (``acme_tagger``) and the stage (``acme_tagger.tag``).

docstage is not on a package index, so the plugin's ``docstage>=X.Y`` dependency alone does
not install in a fresh environment: the README's install command and ``tox.ini`` also name
docstage's source (:class:`DocstageSource`), by default the one the running docstage was
installed from (its PEP 610 ``direct_url.json``).
"""

from __future__ import annotations

import json
import keyword
import re
import shlex
import textwrap
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from urllib.request import url2pathname

import attrs
import jinja2

from docstage import __version__
from docstage.errors import DocstageError

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

#: A URL pip installs from: a scheme (``https:``, ``file:``) or a VCS prefix (``git+``).
_URL = re.compile(r"^(?:[a-z][a-z0-9.-]*://|(?:git|hg|svn|bzr)\+)", re.IGNORECASE)

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

#: How docstage reaches a plugin's environment (see :class:`DocstageSource`).
SourceKind = Literal["editable", "directory", "file", "url", "index", "unknown"]

#: The plugin's own install, to which :attr:`DocstageSource.pip_arguments` is added.
INSTALL = "pip install -e '.[test]'"


@attrs.frozen
class DocstageSource:
    """Where a new plugin's environment installs docstage from.

    Attributes:
        kind: ``editable`` (a source folder, installed editable), ``directory`` (a source
            folder), ``file`` (a wheel or sdist), ``url`` (a URL pip installs from: VCS or
            archive), ``index`` (by name, from the package index) or ``unknown`` (docstage
            came from a folder or file that is gone).
        location: The absolute path or URL; for ``unknown``, the path that is gone; empty
            for ``index``.
    """

    kind: SourceKind
    location: str = ""

    @property
    def pip_arguments(self) -> str:
        """What ``pip install`` needs beside the plugin to get docstage, quoted for a POSIX
        shell: a path, ``-e PATH``, ``'docstage @ URL'``, or nothing (``index``,
        ``unknown``)."""
        if self.kind == "editable":
            return f"-e {shlex.quote(self.location)}"
        if self.kind in ("directory", "file"):
            return shlex.quote(self.location)
        if self.kind == "url":
            return shlex.quote(f"docstage @ {self.location}")
        return ""

    @property
    def requirement(self) -> str:
        """docstage as a PEP 508 requirement with a direct reference, for ``tox.ini``'s
        ``deps`` (never editable: tox makes an environment of its own); empty when
        docstage comes by name."""
        if self.kind in ("editable", "directory", "file"):
            return f"docstage @ {Path(self.location).as_uri()}"
        if self.kind == "url":
            return f"docstage @ {self.location}"
        return ""

    @property
    def install(self) -> str:
        """The command that installs the plugin, pytest and docstage, run in the plugin's
        folder."""
        return f"{INSTALL} {self.pip_arguments}".rstrip()

    @property
    def origin(self) -> str:
        """What the README says the install command does and where docstage comes from."""
        where = {
            "editable": f"its source folder `{self.location}` (editable)",
            "directory": f"its source folder `{self.location}`",
            "file": f"`{self.location}`",
            "url": f"`{self.location}`",
            "index": "the package index pip is set up for (`pip config list` shows it)",
        }.get(self.kind)
        if where is None:
            return (
                "The first command installs this plugin (editable) and pytest. Install "
                "docstage into the environment before it, from its source (`pip install "
                f"PATH-TO-DOCSTAGE`): the docstage that made this plugin was installed from "
                f"`{self.location}`, which is gone."
            )
        return (
            f"The first command installs this plugin (editable), pytest, and docstage from {where}."
        )

    @property
    def warning(self) -> str:
        """Why the install command may not find docstage (one line), or ``""``."""
        if self.kind != "unknown":
            return ""
        return (
            f"docstage was installed from {self.location}, which is gone: install docstage "
            "into the plugin's environment first, or give its source with --docstage-from"
        )


INDEX = DocstageSource("index")


def source_from_option(value: str) -> DocstageSource:
    """The :class:`DocstageSource` that ``--docstage-from VALUE`` names: a source folder, a
    wheel or sdist, a URL pip installs from (``git+https://…@REF``, ``https://…``), or
    ``index``.

    Raises:
        DocstageError: ``value`` is a path to nothing, or a folder that is no Python project.
    """
    if value == "index":
        return INDEX
    if _URL.match(value) and not value.lower().startswith("file:"):
        return DocstageSource("url", value)
    path = Path(url2pathname(urlsplit(value).path) if _URL.match(value) else value)
    path = path.expanduser().resolve()
    where = f"--docstage-from {value}"
    if path.is_dir():
        if not any((path / name).is_file() for name in ("pyproject.toml", "setup.py")):
            raise DocstageError(
                f"{where}: a folder without pyproject.toml; give docstage's source folder, "
                "a wheel or sdist, a URL (git+https://…) or 'index'"
            )
        return DocstageSource("directory", str(path))
    if path.is_file():
        return DocstageSource("file", str(path))
    raise DocstageError(
        f"{where}: no such file or folder; give docstage's source folder, a wheel or sdist, "
        "a URL (git+https://…) or 'index'"
    )


def source_from_direct_url(data: dict[str, Any]) -> DocstageSource | None:
    """The source a PEP 610 ``direct_url.json`` records, or None when it is not one.

    A VCS install is pinned to the commit it was made from; a local folder or file that no
    longer exists is ``unknown``.
    """
    url = data.get("url")
    if not isinstance(url, str) or not url:
        return None
    subdirectory = data.get("subdirectory")
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("vcs"), str):
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        reference = f"{vcs['vcs']}+{url}" + (f"@{revision}" if revision else "")
        if subdirectory:
            reference += f"#subdirectory={subdirectory}"
        return DocstageSource("url", reference)
    if not url.lower().startswith("file:"):
        return DocstageSource(
            "url", url + (f"#subdirectory={subdirectory}" if subdirectory else "")
        )
    path = Path(url2pathname(urlsplit(url).path))
    if subdirectory:
        path = path / subdirectory
    if not path.exists():
        return DocstageSource("unknown", str(path))
    info = data.get("dir_info")
    if isinstance(info, dict):
        return DocstageSource("editable" if info.get("editable") else "directory", str(path))
    return DocstageSource("file", str(path))


def installed_source() -> DocstageSource:
    """Where the running docstage was installed from.

    The ``direct_url.json`` of the installed docstage distribution whose files hold the
    running code (or, editable, whose folder does); else the source folder the code runs
    from, when it is a docstage checkout; else the package index.
    """
    package = Path(__file__).resolve().parent
    for distribution in metadata.distributions(name="docstage"):
        text = distribution.read_text("direct_url.json")
        if not text:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            continue
        source = source_from_direct_url(data) if isinstance(data, dict) else None
        if source is None:
            continue
        home = source.location if source.kind == "editable" else str(distribution.locate_file(""))
        if package.is_relative_to(Path(home).resolve()):
            return source
    checkout = package.parent / "pyproject.toml"
    if checkout.is_file() and re.search(
        r'^name\s*=\s*"docstage"', checkout.read_text(encoding="utf-8"), re.MULTILINE
    ):
        return DocstageSource("editable", str(package.parent))
    return INDEX


def _wrap(text: str) -> str:
    """``text`` as lines of the README's width; paths and URLs are never split."""
    return textwrap.fill(text, width=88, break_long_words=False, break_on_hyphens=False)


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


@attrs.frozen
class NewPlugin:
    """What :func:`new_plugin` made.

    Attributes:
        files: The files written.
        source: Where the plugin's README and ``tox.ini`` install docstage from.
    """

    files: list[Path]
    source: DocstageSource


def new_plugin(name: str, folder: Path, source: DocstageSource | None = None) -> NewPlugin:
    """Write the distribution of plugin ``name`` into ``folder`` (which must not exist or
    be empty).

    Its README and ``tox.ini`` install docstage from ``source`` (default: where the running
    docstage came from, :func:`installed_source`).

    Raises:
        DocstageError: A bad name, or ``folder`` holds files already.
    """
    module = check_name(name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise DocstageError(f"{folder}: already exists and is not empty; choose another --dir")
    source = source if source is not None else installed_source()
    values = {
        "plugin": name,
        "dist": name,
        "module": module,
        "stage": f"{module}.tag",
        "summary": "tags documents with the keywords they mention.",
        "docstage_version": __version__,
        "source": source,
        "origin": _wrap(f"{source.origin} `pipeline plugins` then lists {name}."),
        "tox": _wrap(
            "`tox` runs the tests on every Python you have (`pip install tox` first); its "
            + (
                f"`tox.ini` installs docstage from `{source.requirement}` in each environment."
                if source.requirement
                else "`tox.ini` installs docstage by name"
                + (
                    ", from that index."
                    if source.kind == "index"
                    else ": add its source to `deps`."
                )
            )
        ),
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
    return NewPlugin(written, source)
