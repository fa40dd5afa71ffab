"""``render_page(data) -> str``: one self-contained HTML page (inline CSS, JS and data; no network).

The data (``data.page_data``) is embedded as a JSON ``<script type="application/json">`` block; the page's
JavaScript (``page.js``, ours) renders the selected group only, ``CHUNK`` step rows at a time as the reader
scrolls, so a 10^4-row group opens quickly.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    # "</" would end the script element; "<!--" could open a comment: escape both inside the JSON text
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def render_page(data: dict[str, Any], title: str = "") -> str:
    title = title or f"proxmo show: {data['run']['name']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_asset("page.css")}</style>
</head><body>
<header><h1>proxmo show</h1>
<label>group <select id="group"></select></label>
<label>order by <select id="sortby"><option value="task">task</option><option value="mix">outcome mix</option><option value="size">size</option></select></label>
<span id="summary"></span></header>
<div id="legend"></div>
<main><div id="gridwrap"><div id="grid"></div></div><aside id="panel"></aside></main>
<script type="application/json" id="proxmo-data">{_json_for_script(data)}</script>
<script>{_asset("page.js")}</script>
</body></html>
"""


__all__ = ["render_page"]
