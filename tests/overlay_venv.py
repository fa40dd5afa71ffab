"""A cached side venv for a framework whose pins conflict with the test venv's (verl pins transformers).

``overlay_venv(name, requirements)`` creates ``<repo>/.cache/venvs/<name>`` once (``$PROXMO_VENV_CACHE``
overrides the folder): a plain venv whose site-packages come first and whose ``.pth`` file appends the
test venv's site-packages. ``pip install <requirements>`` then installs only what is missing or pinned
differently, into the side venv: pip never uninstalls outside its own environment, so the test venv is
left exactly as it was (torch, numpy, ... are shared, the conflicting pins shadow it). A stamp file
names the requirements; a crashed creation leaves no stamp and is redone (changed requirements
are installed over the existing side venv). Creation is serialised with
a file lock, so parallel test processes build it once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    return Path(os.environ.get("PROXMO_VENV_CACHE", REPO / ".cache" / "venvs"))


def overlay_venv(name: str, requirements: list[str], timeout: float = 1500) -> Path:
    """The python executable of the side venv ``name`` with ``requirements`` installed (created if needed)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / name
    python = venv / "bin" / "python"
    stamp = venv / ".proxmo-overlay"
    wanted = "\n".join([sys.prefix, *requirements])
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == wanted and python.exists():
            return python
        if not python.exists() or not stamp.is_file() or stamp.read_text().split("\n")[0] != sys.prefix:
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=300)
            purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip()
            # appended after the side venv's own site-packages: its packages shadow the test venv's
            Path(purelib, "_proxmo_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        stamp.unlink(missing_ok=True)  # changed requirements: install them over the existing side venv
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True, timeout=timeout)
        stamp.write_text(wanted)
    return python
