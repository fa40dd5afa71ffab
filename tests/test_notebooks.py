"""The tutorial notebooks: committed stripped and in sync with their builder, and each runs top to bottom.

Each notebook is executed with nbclient in a fresh temporary working directory (its run folders land
there), with the small sizes of its first cell. ``03_training`` is pointed at an empty benchmark folder,
so it runs its own tiny comparison.
"""

from __future__ import annotations

import ast
import base64
import io
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_environments.ipynb", "02_credit_assignment.ipynb", "03_training.ipynb"]


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.id} of {path.name} has outputs"
    first = code[0].source
    assert "=" in first and "Sizes" in first, "the first code cell sets the sizes"


def test_notebooks_equal_their_builder():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_notebooks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _png_sizes(nb) -> list[tuple[int, int]]:
    from PIL import Image

    sizes = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                sizes.append(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).size)
    return sizes


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("PROXMO_COMPARE_DIR", str(tmp_path / "no-benchmark-runs"))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    nbformat.write(nb, tmp_path / f"executed-{path.name}")  # kept for inspection
    figures = _png_sizes(nb)
    if path.stem != "01_environments":
        assert figures, f"{path.name} shows no figure"
    for w, h in figures:
        assert w >= 300 and h >= 200
    assert (tmp_path / "runs").is_dir(), "the notebook writes its runs into its working directory"


def _tour_code() -> str:
    readme = (REPO / "README.md").read_text()
    start, end = readme.index("<!-- section:tour -->"), readme.index("<!-- /section:tour -->")
    section = readme[start:end]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_readme_tour_runs(tmp_path):
    """The README's API tour is real code: it runs as printed and ends with PPO statistics."""
    code = _tour_code()
    assert len(code.splitlines()) <= 30
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = ast.literal_eval(proc.stdout.strip().splitlines()[-1])  # the printed dict of floats
    assert {"loss", "kl", "rows"} <= set(stats) and stats["rows"] > 0
    assert (tmp_path / "runs" / "tour" / "manifest.json").is_file()
