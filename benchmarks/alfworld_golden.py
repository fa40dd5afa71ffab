"""Write the untouched engine's transcript digests of the shipped eval games (the identity tests' reference).

    python benchmarks/alfworld_golden.py                    # both eval splits
    python benchmarks/alfworld_golden.py --splits eval_seen # -> tests/data/alfworld_untouched_eval_seen.json.gz

Plays one group (``GOLDEN_PROTOCOL`` in ``proxmo_envs/alfworld/transcripts.py``) per game of each split on
the untouched engine (``speedups=False``, TextWorld unpatched) and stores, per game
and episode, the sha256 digest of every reset/step record (observation, reward, flags, info). It writes after
every game and resumes an interrupted run (games already written under the same engine and protocol are
kept). Delete the files and re-run it when the shipped games or the engine version change; ``tests/test_alfworld_identity.py`` checks the fast
engine against it and re-plays a few games untouched to check the file is current.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxmo_envs.alfworld import speedups  # noqa: E402
from proxmo_envs.alfworld.env import ALFWorldEnv  # noqa: E402
from proxmo_envs.alfworld.transcripts import GOLDEN_PROTOCOL, golden_game  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data"


def golden_path(folder: Path, split: str) -> Path:
    return folder / f"alfworld_untouched_{split}.json.gz"


def _write(out: Path, doc: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="ascii") as fh:
        json.dump(doc, fh, sort_keys=True, separators=(",", ":"))
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--splits", nargs="+", default=["eval_seen", "eval_unseen"])
    args = p.parse_args(argv)
    import textworld

    speedups.disable()
    for split in args.splits:
        t0 = time.perf_counter()
        env = ALFWorldEnv(split=split, speedups=False)
        out = golden_path(args.out_dir, split)
        doc = {"textworld": textworld.__version__, "protocol": GOLDEN_PROTOCOL, "split": split, "games": {}}
        if out.is_file():  # resume: keep the games already written under the same engine and protocol
            with gzip.open(out, "rt", encoding="ascii") as fh:
                old = json.load(fh)
            if {k: old.get(k) for k in ("textworld", "protocol", "split")} == {k: doc[k] for k in
                                                                            ("textworld", "protocol", "split")}:
                doc["games"] = {g: d for g, d in old["games"].items() if g in set(env.task_ids)}
        for g, gid in enumerate(env.task_ids):
            if gid in doc["games"]:
                continue
            doc["games"][gid] = golden_game(env, g)
            _write(out, doc)  # after every game: an interrupted run resumes where it stopped
        print(f"{split}: {len(doc['games'])} games in {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
