"""The README and docs/*.md say only what runs: every code block is executed as written, every link resolves.

The rules, which every page follows (README.md says them in its "Contributing to the docs" note):

* A ```python block is saved as a script in the page's working directory and run with the venv's Python;
  a ```bash block is run with ``bash -eo pipefail``, with the venv's ``bin`` (so ``proxmo``) first on PATH.
  The blocks of one page run in order, in one fresh temporary directory per page, so a later block can read
  the run folder an earlier block wrote; each python block is its own script (imports included), exactly
  what a reader pastes into a file. Offline: nothing may download.
* ```text and ```console blocks are shown, not run (output, or commands that need another machine, say
  why in the prose). Every fence names its language; ``sh``/``shell``/``py`` are refused so no block is
  skipped by accident.
* A ```bash block made only of ``make TARGET`` lines (the README's two commands) is not run inside the
  suite (it would rebuild the venv the suite runs in): each TARGET must be a target of the Makefile.
* A relative link or image target must exist; a ``#anchor`` into a Markdown page must name one of its
  headings (GitHub's slug rule).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN = ("python", "bash")
SHOWN = ("text", "console")
REFUSED = ("sh", "shell", "py", "python3", "zsh")
BLOCK_TIMEOUT = 420  # seconds per block; the slowest block (ALFWorld warm start + Ray start-up) needs ~1 min


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str

    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line} ({self.lang})"


_FENCE = re.compile(r"^```(.*)$")


def code_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, in order (fences at the start of a line, not indented)."""
    blocks, lines = [], page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            start, lang = i, m.group(1).strip()
            i += 1
            body = []
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise AssertionError(f"{page.relative_to(REPO)}:{start + 1}: unclosed code fence")
            blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n"))
        i += 1
    return blocks


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", text, flags=re.M))


_MAKE_LINE = re.compile(r"^make ([A-Za-z0-9_.-]+)\s*(#.*)?$")


def make_block_targets(block: Block) -> list[str] | None:
    """The targets of a block made only of ``make TARGET`` lines, else None."""
    lines = [ln.strip() for ln in block.code.splitlines() if ln.strip()]
    matches = [_MAKE_LINE.match(ln) for ln in lines]
    if lines and all(matches):
        return [m.group(1) for m in matches]
    return None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", MPLBACKEND="Agg",
               RAY_USAGE_STATS_ENABLED="0", PYTHONHASHSEED="0")
    return env


def run_block(block: Block, cwd: Path, index: int) -> subprocess.CompletedProcess:
    if block.lang == "python":
        script = cwd / f"docs_block_{index:02d}.py"
        script.write_text(block.code)
        cmd = [sys.executable, script.name]
    else:
        script = cwd / f"docs_block_{index:02d}.sh"
        script.write_text(block.code)
        cmd = ["bash", "-eo", "pipefail", script.name]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=BLOCK_TIMEOUT)


def test_every_fence_names_a_known_language():
    bad = []
    for page in PAGES:
        for block in code_blocks(page):
            if not block.lang or block.lang in REFUSED:
                bad.append(f"{block.where()}: say python or bash (run) or text/console (shown)")
    assert not bad, "\n".join(bad)


def test_make_blocks_name_makefile_targets():
    targets, seen = makefile_targets(), []
    assert {"run", "test"} <= targets
    for page in PAGES:
        for block in code_blocks(page):
            if block.lang == "bash":
                names = make_block_targets(block)
                if names is not None:
                    seen += names
                    assert set(names) <= targets, f"{block.where()}: {names} not all Makefile targets {sorted(targets)}"
                else:
                    assert not re.search(r"^\s*make\s", block.code, flags=re.M), \
                        f"{block.where()}: a bash block mixing `make` with other commands cannot be run by the suite"
    assert {"run", "test"} <= set(seen), "the README shows `make run` and `make test`"


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("page", [pytest.param(p, marks=[pytest.mark.ray] if p.name == "ray.md" else [])
                                  for p in PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_code_blocks_run_as_written(page, tmp_path):
    blocks = [b for b in code_blocks(page) if b.lang in RUN and make_block_targets(b) is None]
    for k, block in enumerate(blocks):
        proc = run_block(block, tmp_path, k)
        assert proc.returncode == 0, (
            f"{block.where()} failed (exit {proc.returncode}):\n{block.code}\n--- stdout:\n{proc.stdout[-2000:]}"
            f"\n--- stderr:\n{proc.stderr[-4000:]}")


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed (but - and _), spaces -> -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link in a heading: its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(page: Path) -> set[str]:
    text, slugs, counts = page.read_text(), set(), {}
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6} (.+)$", line)
        if m:
            slug = github_slug(m.group(1))
            n = counts.get(slug, 0)
            slugs.add(slug if n == 0 else f"{slug}-{n}")
            counts[slug] = n + 1
    return slugs


def _prose(page: Path) -> str:
    """The page without its code blocks (a link inside code is not a link)."""
    return re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)


def links(page: Path) -> list[str]:
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", _prose(page))


def test_relative_links_and_anchors_resolve():
    missing = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(REPO)} -> {target}"
            if not dest.exists():
                missing.append(f"{where}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in headings(dest):
                missing.append(f"{where}: no heading with that anchor")
    assert not missing, "\n".join(missing)


def test_readme_is_a_map():
    readme = REPO / "README.md"
    lines = readme.read_text().splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines; it is a map, details go to docs/"
    linked = {Path(t.partition("#")[0]).name for t in links(readme) if t.startswith("docs/") and ".md" in t}
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"
    assert "../shared" not in readme.read_text(), "a user never has ../shared: state the contract in docs/"


def test_docs_never_cite_the_private_specs_as_the_contract():
    """The contracts (log format, credit formulas) are stated in docs/ in our own words; a user never has
    the specs they were agreed in."""
    cites = [p.name for p in PAGES if "shared/specs" in p.read_text()]
    assert not cites, f"pages citing the private specs: {cites}"


def test_the_quoted_games_table_is_what_proxmo_games_prints():
    """docs/envs.md shows `proxmo games`'s table as text: every line of it is a line of the real output."""
    page = REPO / "docs" / "envs.md"
    blocks = code_blocks(page)
    k = next(i for i, b in enumerate(blocks) if b.lang == "bash" and b.code.strip() == "proxmo games")
    shown = next(b for b in blocks[k + 1:] if b.lang == "text")
    proc = subprocess.run([str(Path(sys.executable).parent / "proxmo"), "games"], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = {line.rstrip() for line in proc.stdout.splitlines()}
    missing = [line for line in shown.code.splitlines() if line.rstrip() not in printed]
    assert not missing, f"{shown.where()}: lines not printed by `proxmo games`: {missing}"


def test_quoted_results_are_the_committed_figures():
    """A figure quoted as ``<!-- result:FILE:PATH -->N`` is the value at PATH of benchmarks/results/FILE."""
    quotes = [(page, m) for page in PAGES
              for m in re.finditer(r"<!-- result:([^:]+):(.+?) -->([0-9][0-9.,]*[0-9]|[0-9])", page.read_text())]
    assert quotes, "no page quotes a result file (the README's Speed and Scale paragraphs should)"
    for page, m in quotes:
        file, path, shown = m.groups()
        value = json.loads((REPO / "benchmarks" / "results" / file).read_text())
        for key in path.split("/"):
            value = value[int(key)] if isinstance(value, list) else value[key]
        digits = len(shown.split(".")[1]) if "." in shown else 0
        assert shown.replace(",", "") == f"{float(value):.{digits}f}", f"{page.name}: {file}:{path} is {value}, not {shown}"
