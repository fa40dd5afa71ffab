"""The ``proxmo show`` page in a real headless Chromium (Debian's package; ``.ci/run`` installs it): the group
is rendered, clicking a step reveals its PSA weights (the page data's numbers), the screenshot is not blank,
and a 10^4-row group renders lazily."""

from __future__ import annotations

import io
import os

import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.show.browser import Browser, find_chromium
from test_show import _embedded, big_group_run


@pytest.fixture(scope="module")
def browser():
    if not find_chromium():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    with Browser(width=1400, height=900) as b:
        yield b


def _distinct_colours(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])


@pytest.mark.parametrize("which", ["mixed_alfworld_run", "mixed_webshop_run"])
def test_group_renders_and_a_click_shows_psa_weights(tmp_path, capsys, request, browser, which):
    run = request.getfixturevalue(which)
    out = tmp_path / "page.html"
    assert main(["show", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    data = _embedded(out.read_text())
    browser.open(out.as_uri())
    assert browser.evaluate("document.body.dataset.ready") == "1"
    gid = browser.evaluate("document.getElementById('group').value")
    group = data["data"][gid]
    T = group["trajectories"]
    # every trajectory is a column with its outcome; every step a cell (small group: all rendered at once)
    heads = browser.evaluate("[...document.querySelectorAll('.colhead .badge')].map(e => e.textContent)")
    assert heads == ["won" if t["won"] else "lost" for t in T]
    assert browser.evaluate("document.querySelectorAll('.cell:not(.empty)').length") == sum(len(t["steps"]) for t in T)
    assert browser.evaluate("document.querySelectorAll('.cell .bar').length") == 3 * sum(len(t["steps"]) for t in T)
    # click trajectory 1's step 1 (or its last): the panel lists its PSA neighbours with the data's weights
    ti, si = 1, min(1, len(T[1]["steps"]) - 1)
    assert browser.evaluate("document.querySelector('#psa-table') === null")
    browser.evaluate(f"document.querySelector('.cell[data-traj=\"{ti}\"][data-step=\"{si}\"]').click()")
    shown = browser.evaluate("[...document.querySelectorAll('#psa-table .wv')].map(e => parseFloat(e.textContent))")
    want = [round(w, 3) for _, _, w in group["psa"][f"{ti}:{si}"]["n"]]
    assert shown == pytest.approx(want, abs=1e-3) and len(shown) >= 1
    assert "GiGPO exact-match group" in browser.evaluate("document.getElementById('panel').textContent")
    # the full observation appears on click
    obs = T[0]["steps"][0][0]
    browser.evaluate("document.querySelector('.cell .obs').click()")
    assert browser.evaluate("document.querySelector('.cell .obs').textContent") == obs
    png = browser.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and _distinct_colours(png) > 50  # not a blank page
    # the picker lists both groups and switching renders the other
    other = [g["id"] for g in data["groups"] if g["id"] != gid][0]
    browser.evaluate(f"var s = document.getElementById('group'); s.value = {other!r}; s.dispatchEvent(new Event('change'))")
    n_other = sum(len(t["steps"]) for t in data["data"][other]["trajectories"])
    assert browser.evaluate("document.querySelectorAll('.cell:not(.empty)').length") == n_other


def test_ten_thousand_row_group_renders_lazily(tmp_path, capsys, browser):
    run, n = big_group_run(tmp_path)
    out = tmp_path / "big.html"
    assert main(["show", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    browser.open(out.as_uri())
    assert browser.evaluate("document.body.dataset.ready") == "1"
    first = browser.evaluate("document.querySelectorAll('.cell').length")
    n_traj = len(next(iter(_embedded(out.read_text())["data"].values()))["trajectories"])
    assert first == 40 * n_traj < n  # CHUNK step rows x the trajectories, not 10^4 cells
    browser.evaluate("var w = document.getElementById('gridwrap'); w.scrollTop = w.scrollHeight")
    browser.evaluate("new Promise(r => setTimeout(r, 300))")
    assert browser.evaluate("document.querySelectorAll('.cell').length") > first
