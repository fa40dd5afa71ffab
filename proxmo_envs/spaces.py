"""A ``gymnasium.spaces.Text`` whose observations survive ``AsyncVectorEnv``'s shared memory.

Gymnasium 1.x decodes a ``Text`` space's shared memory once, when the vector env is built (its
``read_from_shared_memory`` returns a tuple of strings, not a live view), so every later observation of
``make_vec(..., vectorization_mode="async")`` reads back as padding. :class:`SharedText` registers its
own shared-memory handlers: UTF-32 code points with a length prefix, decoded when the vector env copies
its observations. Everything else is plain ``Text`` behaviour. Both proxmo envs use it for observations.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils.shared_memory import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)


class SharedText(spaces.Text):
    """``spaces.Text`` with working ``AsyncVectorEnv`` shared memory (see the module docstring)."""


class _LiveTexts(Sequence):
    """The ``n`` strings currently in a shared buffer; ``deepcopy`` gives a plain tuple of str."""

    def __init__(self, buffer, n: int, stride: int) -> None:
        self._buffer, self._n, self._stride = buffer, n, stride

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(self._n)))
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i %= self._n
        data = np.frombuffer(self._buffer.get_obj(), dtype=np.int32)
        base = i * self._stride
        length = int(data[base])
        return data[base + 1 : base + 1 + length].tobytes().decode("utf-32-le")

    def __deepcopy__(self, memo) -> tuple[str, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return repr(tuple(self))


@create_shared_memory.register(SharedText)
def _create(space: SharedText, n: int = 1, ctx=mp):
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


@read_from_shared_memory.register(SharedText)
def _read(space: SharedText, shared_memory, n: int = 1) -> _LiveTexts:
    return _LiveTexts(shared_memory, n, space.max_length + 1)


@write_to_shared_memory.register(SharedText)
def _write(space: SharedText, index: int, value: str, shared_memory) -> None:
    codes = np.frombuffer(value.encode("utf-32-le"), dtype=np.int32)
    if len(codes) > space.max_length:
        raise ValueError(f"observation of {len(codes)} characters exceeds the space's max_length {space.max_length}")
    stride = space.max_length + 1
    dest = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    dest[index * stride] = len(codes)
    dest[index * stride + 1 : index * stride + 1 + len(codes)] = codes
