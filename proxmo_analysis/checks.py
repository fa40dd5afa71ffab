"""Validators the typed configs call in ``__post_init__``: each raises one :class:`InputError` naming the
field and the bad value. Numbers must be finite: an inf/NaN setting would silently turn results into inf/NaN."""

from __future__ import annotations

import math
from typing import Any

from proxmo_analysis.errors import InputError


def check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise InputError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}")


def check_number(name: str, value: Any, *, low: float | None = None, strict: bool = False,
                 high: float | None = None) -> None:
    """``value`` is a finite int/float (not a bool) in ``[low, high]`` (``(low, high]`` when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise InputError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise InputError(f"{name} must be <= {high}, got {value!r}")


def check_int(name: str, value: Any, *, low: int | None = None) -> None:
    """``value`` is an int (not a bool) ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise InputError(f"{name} must be >= {low}, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")
