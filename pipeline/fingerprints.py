"""The two fingerprints incremental runs rest on (see :mod:`docstage.cache`): a document's
(:func:`fingerprint`, and :class:`Digest` of a stream of them) and each stage's key
(:func:`stage_keys`: its type, resolved options and code, chained with the stages before
it)."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docstage import __version__
from docstage.document import Document

if TYPE_CHECKING:
    from docstage.plan import Plan, PlannedStage


def pickled(doc: Document) -> bytes:
    """The document's pickle without its memo ("fast" mode): with the memo, the bytes
    depend on which equal values happen to be one object, and a document read back from
    the cache or from a worker would not hash like the one that was stored."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True  # documents hold no cycles
    pickler.dump(doc)
    return buffer.getvalue()


def fingerprint(doc: Document, data: bytes | None = None) -> bytes:
    """A 16-byte hash of everything a document carries (of ``data``, its
    :func:`pickled` bytes, when the caller has them already)."""
    return hashlib.blake2b(pickled(doc) if data is None else data, digest_size=16).digest()


def _source_hash(cls: type[Any]) -> str:
    """A hash of the code a stage class runs: its module's file and, when that module
    lives in a subpackage (``docstage_plugins.dedup.stage``), every module beside it, so
    an edit to a helper module changes the stage's key too."""
    try:
        path = Path(inspect.getfile(cls))
    except (OSError, TypeError):
        return ""
    files = [path]
    if cls.__module__.count(".") >= 2:
        files = sorted(path.parent.glob("*.py"))
    digest = hashlib.blake2b(digest_size=8)
    for file in files:
        try:
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()


def stage_keys(plan: Plan) -> list[bytes]:
    """Each stage's key, chained: a stage's key changes with any stage before it."""
    keys: list[bytes] = []
    previous = f"docstage {__version__}".encode()
    for stage in plan.stages:
        previous = hashlib.blake2b(
            previous + b"\0" + describe_stage(stage).encode(), digest_size=16
        ).digest()
        keys.append(previous)
    return keys


def describe_stage(stage: PlannedStage) -> str:
    """What a stage's work depends on, as canonical text: type, options, code."""
    return json.dumps(
        {
            "use": stage.use,
            "options": stage.options(),
            "class": f"{stage.type.cls.__module__}.{stage.type.cls.__qualname__}",
            "source": _source_hash(stage.type.cls),
        },
        sort_keys=True,
        default=repr,
    )


class Digest:
    """An order-sensitive hash of a stream of document fingerprints."""

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(digest_size=16)
        self.count = 0

    def add(self, fp: bytes) -> None:
        self._hash.update(fp)
        self.count += 1

    def digest(self) -> bytes:
        return self._hash.digest() + self.count.to_bytes(8, "little")
