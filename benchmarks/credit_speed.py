"""Speed and peak memory of the credit-assignment methods on ALFWorld-like logs.

    python benchmarks/credit_speed.py                 # 1e4 and 1e5 rows
    python benchmarks/credit_speed.py --sizes 1e6     # the big one (about 2-3 minutes on 2 cores)
    python benchmarks/credit_speed.py --quick         # 1e4 only
    python benchmarks/credit_speed.py --stream        # proxmo score on 10^6..10^7-row run folders (stream_scale.py)

Logs: groups of 8 trajectories of 2..50 steps (synthetic ALFWorld-like text, one iteration, i.e. the
whole log is one batch for TF-IDF). Each measurement runs in a fresh process: the time is one ``score``
call after a warm-up on 1000 rows (imports excluded); memory is the process's peak RSS (data included,
workers included for the multi-process rows; "base MB" is the RSS once the data is loaded). "dense reference-style" is the released code's PSA on
the whole log as one batch (compare with "proxmo reference"): TF-IDF (1024 features) as a dense float32 tensor, an n x n cosine matrix,
masked softmax, weights @ returns (torch). Where n x n does not fit it runs in row blocks (same numbers)
and, past a time budget, is extrapolated from the blocks done (marked ~).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "grpo": ("grpo", {}, 1),
    "grpo_mean": ("grpo_mean", {}, 1),
    "rloo": ("rloo", {}, 1),
    "gigpo": ("gigpo", {}, 1),
    "gigpo reference": ("gigpo", {"variant": "reference"}, 1),
    "proxmo paper": ("proxmo", {}, 1),
    "proxmo paper 2 workers": ("proxmo", {}, 2),
    "proxmo reference": ("proxmo", {"variant": "reference"}, 1),
    "proxmo paper stream 1 worker": ("stream", {}, 1),
    "proxmo paper stream 2 workers": ("stream", {}, 2),
    "dense reference-style": ("dense", {}, 1),
}
DENSE_MAX_BYTES = 6 * 2**30  # n x n float32 matrices the dense baseline may hold at once
DENSE_TIME_BUDGET = 60.0      # seconds of dense work before extrapolating
DENSE_MAX_ROWS = 300_000      # beyond this even the dense (n, 1024) TF-IDF tensor does not fit beside the rest


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # Linux: KiB


def dense_reference_psa(df, tau: float = 0.1, gamma: float = 0.95) -> tuple[object, bool, float]:
    """The reference's step_soft_reward over the whole frame as one batch; returns (adv, extrapolated, s)."""
    import numpy as np
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer

    from proxmo_analysis.credit.frame import dense_codes
    from proxmo_analysis.credit.score import make_config, prepare
    from proxmo_analysis.credit.returns import step_returns

    m, cfg = make_config("proxmo", {"variant": "reference"})
    rows, order = prepare(df, m, cfg)
    returns = torch.tensor(step_returns(rows, gamma, 10.0, 0.1, False), dtype=torch.float32)
    start = time.perf_counter()
    tfidf = TfidfVectorizer(max_features=1024).fit_transform(rows.observation.to_list())
    dense = torch.tensor(tfidf.toarray(), dtype=torch.float32)
    dense = dense / (dense.norm(dim=1, keepdim=True) + 1e-8)
    group = torch.tensor(dense_codes(pl_series(rows.group)))
    n = len(returns)
    block = max(1, min(n, DENSE_MAX_BYTES // (3 * 4 * n)))
    out = torch.empty(n)
    done = 0
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sim = dense[lo:hi] @ dense.T / tau
        sim = sim.masked_fill(group[lo:hi, None] != group[None, :], float("-inf"))
        out[lo:hi] = returns[lo:hi] - torch.softmax(sim, dim=1) @ returns
        done = hi
        if time.perf_counter() - start > DENSE_TIME_BUDGET and hi < n:
            break
    elapsed = time.perf_counter() - start
    extrapolated = done < n
    if extrapolated:
        elapsed = elapsed * n / done
    adv = np.empty(n)
    adv[order] = out.numpy()
    return adv, extrapolated, elapsed


def pl_series(values):
    import polars as pl

    return pl.Series(values)


def best_of(call, repeats: int = 3, long: float = 2.0) -> float:
    """Best time of up to ``repeats`` calls (one call when it takes more than ``long`` seconds)."""
    times = []
    for k in range(repeats):
        t = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - t)
        if times[-1] > long:
            break
    return min(times)


def measure(case: str, data: Path, workdir: Path) -> dict:
    """One measurement (runs in its own process)."""
    import polars as pl

    from proxmo_analysis.credit import score
    from proxmo_analysis.credit.stream import score_run

    method, kw, workers = CASES[case]
    df = pl.read_parquet(data)
    base = peak_rss_mb()
    # warm-up on 1000 rows: imports only what the measured method needs
    if method == "dense":
        score(df.head(1000), "proxmo", variant="reference")
    else:
        score(df.head(1000), "proxmo" if method == "stream" else method, **kw)
    extrapolated = False
    if method == "dense":
        _, extrapolated, seconds = dense_reference_psa(df)
    elif method == "stream":
        from proxmo_analysis.credit.synthetic import write_run

        run = write_run(df, workdir / "run", rows_per_part=50_000)
        seconds = best_of(lambda k: score_run(run, workdir / f"scored{k}", "proxmo", workers=workers,
                                              rows_per_batch=50_000, **kw))
    else:
        seconds = best_of(lambda k: score(df, method, workers=workers, **kw))
    return {"rows": df.height, "seconds": seconds, "peak_mb": peak_rss_mb(), "data_mb": base,
            "extrapolated": extrapolated}


def run_case(case: str, data: Path) -> dict:
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.run([sys.executable, __file__, "--measure", case, "--data", str(data), "--work", work],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--stream" in argv:  # proxmo score at scale against the I/O floor: benchmarks/stream_scale.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import stream_scale

        return stream_scale.main([a for a in argv if a != "--stream"])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e4,1e5", help="comma-separated row counts (default 1e4,1e5)")
    parser.add_argument("--size", dest="sizes", help="alias of --sizes")
    parser.add_argument("--quick", action="store_true", help="1e4 rows only")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.data), Path(args.work))))
        return 0

    from proxmo_analysis.credit.synthetic import alfworld_like_log

    sizes = [10_000] if args.quick else [int(float(s)) for s in args.sizes.split(",")]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    print(f"{'rows':>9} | {'method':<34} | {'seconds':>9} | {'rows/s':>11} | {'peak MB':>8} | {'base MB':>8}")
    print("-" * 94)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            data = Path(tmp) / f"log-{n}.parquet"
            alfworld_like_log(n, seed=0).write_parquet(data)
            for case in cases:
                if CASES[case][0] == "dense" and n > DENSE_MAX_ROWS:
                    print(f"{n:>9} | {case:<34} | skipped: the n x n float32 matrix is {4 * n * n / 2**40:.1f} TiB and "
                          f"the dense TF-IDF alone {12 * 1024 * n / 2**30:.0f} GiB (float64 + float32 copies)")
                    continue
                r = run_case(case, data)
                if "error" in r:
                    print(f"{n:>9} | {case:<34} | failed: {r['error']}")
                    continue
                mark = "~" if r["extrapolated"] else " "
                print(f"{r['rows']:>9} | {case:<34} | {mark}{r['seconds']:>8.3f} | {r['rows'] / r['seconds']:>11,.0f} | "
                      f"{r['peak_mb']:>8.0f} | {r['data_mb']:>8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
