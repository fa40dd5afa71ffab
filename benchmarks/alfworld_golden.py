"""Write the untouched engine's transcript digests of the shipped eval games (the identity tests' reference).

    python benchmarks/alfworld_golden.py            # both eval splits -> tests/data/alfworld_untouched_digests.json.gz

Plays one group (``GOLDEN_PROTOCOL`` in ``proxmo_envs/alfworld/transcripts.py``) per game of ``eval_seen``
and ``eval_unseen`` on the untouched engine (``speedups=False``, TextWorld unpatched) and stores, per game
and episode, the sha256 digest of every reset/step record (observation, reward, flags, info). Re-run it
when the shipped games or the engine version change; ``tests/test_alfworld_identity.py`` checks the fast
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
from proxmo_envs.alfworld.transcripts import GOLDEN_PROTOCOL, golden_digests  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "alfworld_untouched_digests.json.gz"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--splits", nargs="+", default=["eval_seen", "eval_unseen"])
    args = p.parse_args(argv)
    import textworld

    speedups.disable()
    doc = {"textworld": textworld.__version__, "protocol": GOLDEN_PROTOCOL, "splits": {}}
    for split in args.splits:
        t0 = time.perf_counter()
        env = ALFWorldEnv(split=split, speedups=False)
        doc["splits"][split] = golden_digests(env)
        print(f"{split}: {len(doc['splits'][split])} games in {time.perf_counter() - t0:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="ascii") as fh:
        json.dump(doc, fh, sort_keys=True, separators=(",", ":"))
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
