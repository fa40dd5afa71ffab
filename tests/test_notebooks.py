"""The tutorial notebooks: committed executed (with outputs) from their builder's current source, and each
runs top to bottom.

``scripts/build_notebooks.py`` is the notebooks' source; ``--execute`` runs them and stores the hash of the
source they ran from. Here each notebook is also re-executed with nbclient in a fresh temporary working
directory (its run folders land there). ``03_training`` reads the committed comparison
``benchmarks/results/compare_methods.json``; a hand-made file checks what it shows.
"""

from __future__ import annotations

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


def _builder():
    """scripts/build_notebooks.py as a module."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_notebooks
    finally:
        sys.path.pop(0)
    return build_notebooks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed_from_the_current_source(path):
    """A reader on the web sees outputs, and they come from the source in scripts/build_notebooks.py."""
    build_notebooks = _builder()
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "Sizes" in code[0].source, "the first code cell sets the sizes"
    assert nb.metadata.get("proxmo", {}).get("source_sha256") == build_notebooks.source_sha256(path.name), (
        f"{path.name} was not executed from the current source: run scripts/build_notebooks.py --execute {path.stem[:2]}")
    for cell in code:
        assert cell.execution_count is not None, f"cell {cell.id} of {path.name} was not executed"
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"cell {cell.id} of {path.name} stored an error: {errors[0].get('ename')}"
    if path.stem != "01_environments":
        assert _png_sizes(nb), f"{path.name} shows no figure"


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


def _fake_benchmark(root: Path) -> None:
    """Outputs shaped like ``benchmarks/compare_methods.py``'s: one ``proxmo train`` folder per
    (env, method, seed) with ``metrics.csv`` + ``config.json``, plus ``runs.csv`` and ``summary.csv``."""
    import json

    from proxmo_analysis.train import TrainConfig, write_metrics

    runs, types = [], {"pick_and_place_simple": 0.5, "look_at_obj_in_light": 0.25}
    for env, short in (("proxmo/WebShop-v0", "webshop"), ("proxmo/ALFWorld-v0", "alfworld")):
        for method in ("grpo", "proxmo"):
            for seed in (0, 1):
                out = root / short / method / f"seed{seed}"
                out.mkdir(parents=True)
                config = TrainConfig(env_id=env, method=method, seed=seed, iterations=2, out=str(out))
                (out / "config.json").write_text(json.dumps(config.to_dict(), default=str))
                base = 0.1 * seed + (0.2 if method == "proxmo" else 0.0)
                write_metrics(out / "metrics.csv", [
                    {"iteration": 0, "eval_success": base, "eval_score": base},
                    {"iteration": 1, "train_success": base, "iteration_s": 2.0},
                    {"iteration": 2, "train_success": base + 0.1, "iteration_s": 2.5, "eval_success": base + 0.2,
                     "eval_score": base + 0.3},
                ])
                runs.append({"env": env, "method": method, "seed": seed, "success": base + 0.2,
                             "task_types": json.dumps(types if short == "alfworld" else {"fashion": base})})
    lines = ["env,method,seed,success,task_types"]
    lines += [f'{r["env"]},{r["method"]},{r["seed"]},{r["success"]},"{r["task_types"].replace(chr(34), 2 * chr(34))}"'
              for r in runs]
    (root / "runs.csv").write_text("\n".join(lines) + "\n")
    (root / "summary.csv").write_text("env,method,seeds,success_mean,success_std\nproxmo/WebShop-v0,grpo,2,0.25,0.05\n")


FAKE_RESULTS = {
    "webshop": {"seeds": [0, 1, 2], "reward": "won", "episodes_per_run": 2560, "eval_tasks": 199, "start": "untrained",
                "methods": {"grpo": {"success_mean": 0.3125, "success_ci": [0.25, 0.37], "score_mean": 0.7031,
                                     "score_ci": [0.66, 0.74]},
                            "proxmo": {"success_mean": 0.3717, "success_ci": [0.30, 0.44], "score_mean": 0.7523,
                                       "score_ci": [0.71, 0.79]}},
                "pairs": [{"a": "proxmo", "b": "grpo", "success_diff": 0.0592, "success_diff_ci": [-0.01, 0.13],
                           "verdict": "undecided"}]},
    "alfworld": {"seeds": [0, 1], "reward": "won", "episodes_per_run": 512, "eval_tasks": 66, "start": "warm start",
                 "methods": {"grpo": {"success_mean": 0.1141, "success_ci": [0.09, 0.14], "score_mean": 0.1141,
                                      "score_ci": [0.09, 0.14]}},
                 "pairs": [], "group_sizes": {"1": 0.3621}},
}


def _comparison_cells(tmp_path, monkeypatch, results):
    """Notebook 03 up to its live run, executed against a hand-made results file (None: a missing file)."""
    import json

    from nbclient import NotebookClient

    path = tmp_path / "compare_methods.json"
    if results is not None:
        path.write_text(json.dumps(results))
    monkeypatch.setenv("PROXMO_COMPARE_RESULTS", str(path))
    nb = _builder().build("03_training.ipynb")  # the current source
    live = next(k for k, c in enumerate(nb.cells) if c.cell_type == "markdown" and "short live run" in c.source)
    nb.cells = nb.cells[:live]
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _text(nb) -> str:
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/html", ""))
                     for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.timeout(300)
def test_training_notebook_shows_the_committed_comparison(tmp_path, monkeypatch):
    """03_training reads the results file: every method's numbers, the pairs with their verdicts, the budget,
    ALFWorld's group sizes, and one bar figure."""
    nb = _comparison_cells(tmp_path, monkeypatch, FAKE_RESULTS)
    text = _text(nb)
    for needle in ("0.3717", "0.7523", "0.1141", "0.0592", "undecided", "2560", "0.3621", "warm start"):
        assert needle in text, needle
    assert len(_png_sizes(nb)) == 1


@pytest.mark.timeout(300)
def test_training_notebook_says_when_the_results_are_missing(tmp_path, monkeypatch):
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match="compare_methods.json is missing"):
        _comparison_cells(tmp_path, monkeypatch, None)


@pytest.mark.timeout(300)
def test_docs_figures_script_writes_the_readme_figures(tmp_path):
    """scripts/make_docs_figures.py (tiny sizes) writes the PNGs the README embeds, and learning curves
    when given benchmark runs."""
    _fake_benchmark(tmp_path / "bench")
    out = tmp_path / "docs"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_docs_figures.py"), "--out", str(out), "--tasks", "1",
         "--group-size", "3", "--max-steps", "6", "--compare-dir", str(tmp_path / "bench")],
        capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["advantages.png", "learning_curves_alfworld-v0.png", "learning_curves_webshop-v0.png",
                     "psc_psa.png"]
    readme = (REPO / "README.md").read_text()
    for embedded in ("docs/psc_psa.png",):
        assert embedded in readme and (REPO / embedded).is_file()


def test_jupyter_lab_is_installed_by_make():
    """`.venv/bin/jupyter lab` works after `make run`: jupyterlab is in an extra the Makefile's EXTRAS installs."""
    import re

    pyproject = (REPO / "pyproject.toml").read_text()  # (tomllib is 3.11+; the package supports 3.10)
    extras = {m.group(1): m.group(2) for m in re.finditer(r"^(\w+) = \[(.*?)\]", pyproject, flags=re.M | re.S)}
    installed = re.search(r"^EXTRAS \?= (.+)$", (REPO / "Makefile").read_text(), flags=re.M).group(1).split(",")
    assert any('"jupyterlab' in extras.get(name.strip(), "") for name in installed)
    proc = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "lab", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and re.match(r"^\d+\.\d+", proc.stdout.strip()), proc.stderr
