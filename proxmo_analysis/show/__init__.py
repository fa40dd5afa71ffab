"""``proxmo show``: one offline HTML page to look at a task group's credit, method by method.

``write_page(run, out, groups=None, methods=("grpo", "gigpo", "proxmo"))`` reads a run folder, computes the
page data (``data.page_data``) and writes ``render.render_page`` atomically to ``out``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .data import DEFAULT_METHODS, page_data
from .render import render_page


def write_page(run: str | os.PathLike[str], out: str | os.PathLike[str], groups: Sequence[str] | None = None,
               methods: Sequence[str] = DEFAULT_METHODS, max_groups: int = 200,
               config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the page of ``run`` to ``out`` (``config``: method settings, as ``proxmo compare``'s); returns
    ``{"out", "groups", "bytes"}``."""
    from proxmo_analysis.logs import read_log
    from proxmo_envs.trajlog.writer import atomic_write_bytes

    df = read_log(run)
    data = page_data(df, methods, groups, run_name=Path(run).name, max_groups=max_groups, config=config)
    data["initial"] = groups[0] if groups else None
    text = render_page(data).encode("utf-8")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, text)
    return {"out": str(out), "groups": len(data["groups"]), "bytes": len(text)}


__all__ = ["write_page", "page_data", "render_page"]
