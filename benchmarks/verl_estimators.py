"""Time and peak memory of the verl-style estimators on big batches, against the release's dense PSA.

    python benchmarks/verl_estimators.py                  # 1e4 and 1e5 rows
    python benchmarks/verl_estimators.py --sizes 1e4      # quick

Batch: ALFWorld-like step rows (``proxmo_analysis.credit.synthetic``: groups of 8 trajectories of 2..50
steps), response length 32. Arms, each in a fresh process (time of one call after a 1000-row warm-up;
memory = the process's peak RSS, data included):

- ``proxmo (ours)``: ``compute_proxmo_outcome_advantage(mode="soft_grouping", enable_psc=True)``, the
  release's setting, per task group;
- ``gigpo (ours)``: ``compute_gigpo_outcome_advantage(mode="mean_norm")``;
- ``release-style dense PSA``: the release's ``step_soft_reward`` shape (dense TF-IDF tensor, a
  (bs x bs) cosine matrix, masked softmax) as ``benchmarks/credit_speed.py`` runs it (row blocks of at
  most 6 GB; past 60 s extrapolated from the blocks done, marked ~). Its "needs" column is the memory of
  the release's one-shot (bs x bs) float32 similarity, mask and weights.

Writes ``benchmarks/results/verl_estimators.json`` and prints a table with ratios to ``proxmo (ours)``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "verl_estimators.json"
L = 32
ARMS = ("proxmo (ours)", "gigpo (ours)", "release-style dense PSA")


def batch(n_rows: int, seed: int = 0):
    """Release-shaped inputs for an ALFWorld-like batch of about ``n_rows`` rows."""
    import numpy as np
    import torch

    from proxmo_analysis.credit import score
    from proxmo_analysis.credit.synthetic import alfworld_like_log

    df = alfworld_like_log(n_rows, seed=seed)
    rtg = score(df, "gigpo", variant="reference")["return_to_go"].to_numpy()
    n = df.height
    row_score = 10.0 * df["won"].to_numpy() - 0.1 * df["invalid_action"].to_numpy()
    rewards = torch.zeros(n, L)
    rewards[:, -1] = torch.tensor(row_score, dtype=torch.float32)
    mask = torch.ones(n, L)
    obj = lambda c: np.array(df[c].to_list(), dtype=object)  # noqa: E731
    return df, (rewards, torch.tensor(rtg, dtype=torch.float32), mask, obj("observation"), obj("group_id"),
                obj("episode_id"))


def measure(arm: str, n_rows: int) -> dict:
    """One arm at one size (run in its own process)."""
    sys.path.insert(0, str(HERE))
    from credit_speed import dense_reference_psa, peak_rss_mb

    from proxmo_analysis.integrations.verl import compute_gigpo_outcome_advantage, compute_proxmo_outcome_advantage

    df, args = batch(n_rows)
    _, warm = batch(1000, seed=1)
    extrapolated = False
    if arm == "release-style dense PSA":
        dense_reference_psa(df.head(1000))
        _, extrapolated, seconds = dense_reference_psa(df)
    else:
        fn, kw = ((compute_proxmo_outcome_advantage, {"mode": "soft_grouping", "enable_psc": True,
                                                      "psc_alpha": 4.0, "psc_beta": 0.2164})
                  if arm == "proxmo (ours)" else (compute_gigpo_outcome_advantage, {"mode": "mean_norm"}))
        fn(*warm, **kw)
        t = time.perf_counter()
        fn(*args, **kw)
        seconds = time.perf_counter() - t
    return {"arm": arm, "rows": df.height, "seconds": seconds, "extrapolated": extrapolated,
            "peak_rss_mb": peak_rss_mb(), "release_needs_gb": 3 * 4 * df.height ** 2 / 2**30}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["1e4", "1e5"])
    ap.add_argument("--measure", nargs=2, metavar=("ARM", "ROWS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]))))
        return 0
    rows = []
    for size in (int(float(s)) for s in args.sizes):
        for arm in ARMS:
            out = subprocess.run([sys.executable, __file__, "--measure", arm, str(size)], capture_output=True,
                                 text=True)
            if out.returncode:
                sys.exit(f"{arm} at {size} rows failed:\n{out.stderr[-2000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'arm':<26}{'rows':>9}{'seconds':>10}{'x ours':>8}{'peak MB':>9}{'release needs GB':>18}")
    for r in rows:
        ours = next(o for o in rows if o["rows"] == r["rows"] and o["arm"] == "proxmo (ours)")
        mark = "~" if r["extrapolated"] else " "
        print(f"{r['arm']:<26}{r['rows']:>9}{mark}{r['seconds']:>9.2f}{r['seconds'] / ours['seconds']:>8.1f}"
              f"{r['peak_rss_mb']:>9.0f}{r['release_needs_gb']:>18.1f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"response_length": L, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
