"""`proxmo score` at scale: wall time, CPU time and peak memory against the I/O floor, per log size.

    python benchmarks/credit_speed.py --stream                  # 10^6, 2*10^6 and 10^7 rows
    python benchmarks/credit_speed.py --stream --huge           # ... and 10^8 rows (about 0.4 GB of data)
    python benchmarks/credit_speed.py --stream --sizes 1e6 --workers 1

For each size a synthetic ALFWorld-like run folder is built (``credit.synthetic.write_synthetic_run``: 100k
rows per part, groups of 8 trajectories of 2..50 steps, one iteration) under ``--data-dir``, then, in one
run and each in a fresh child process:

- ``read scoring columns``: pyarrow reading the columns the scorer needs, part by part (the I/O floor of
  the computation);
- ``read all columns``: pyarrow reading every column, part by part (the floor of writing a scored copy,
  which carries every column);
- ``score, W worker(s)``: ``proxmo score RUN --method proxmo`` (paper variant) with ``--workers W``
  (``W`` processes: this one and ``W - 1`` spawned workers);
- ``compare grpo,gigpo,proxmo, W workers``: ``proxmo compare RUN --methods grpo,gigpo,proxmo`` with the
  largest ``W`` of ``--workers`` (several methods over one log, streamed the same way);
- with ``--ray``: ``proxmo score RUN --backend ray --workers 1`` (the driver and one Ray CPU, on a local Ray
  started by the command: its start-up and Ray's own processes are included).

Wall time includes the interpreter start. Memory: ``peak RSS`` is the largest single process (``ru_maxrss``
of the children), ``sum RSS`` the largest sum over the process tree, sampled every 20 ms (workers
included). CPU is user + system time of the process tree; ``busiest_process_cpu_seconds`` that of its
busiest process (sampled): with W processes sharing the work, the wall time on W idle cores is about
this. The machine's load (``/proc/loadavg``) is recorded before and after each size: on a shared machine wall times are inflated by the load; CPU times
much less. Results go to ``benchmarks/results/credit_stream.json``; synthetic data is deleted at the end
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "credit_stream.json"
SCORING_COLUMNS = ["group_id", "episode_id", "step", "reward", "observation", "won", "invalid_action", "iteration"]

READ = """
import sys, pyarrow.parquet as pq
from pathlib import Path
cols = None if sys.argv[2] == "all" else sys.argv[2].split(",")
n = 0
for f in sorted(Path(sys.argv[1]).glob("part-*.parquet")):
    for b in pq.ParquetFile(f).iter_batches(batch_size=65536, columns=cols, use_threads=False):
        n += b.num_rows
print(n)
"""
SCORE = "import sys; from proxmo_analysis.cli import main; sys.exit(main(sys.argv[1:]))"
COMPARED = "grpo,gigpo,proxmo"


def load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _tree_rss(pid: int, cpu: dict[int, float] | None = None) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc); ``cpu`` gets each process's CPU seconds
    so far (user + system, /proc/PID/stat)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            if cpu is not None:
                with open(f"/proc/{p}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                cpu[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def run_child(argv: list[str], extra_env: dict[str, str] | None = None) -> dict:
    """Run ``argv`` (a Python child) under ``/usr/bin/time``: wall seconds, CPU seconds and the peak RSS of
    the largest process of its tree (what ``time -v`` reports; measured from the small ``time`` process, so
    this benchmark's own memory is not inherited), and the peak RSS summed over the tree (sampled)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    with tempfile.NamedTemporaryFile("r") as report, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %U %S", "-o", report.name, *argv], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
        peak = [0]
        cpu: dict[int, float] = {}
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss(proc.pid, cpu))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv[:4])}... failed: {err.read().strip().splitlines()[-1:]}")
        max_kb, user, system = report.read().split()[-3:]
    python = sorted(cpu.values())[-1] if cpu else 0.0  # the busiest process (the `time` wrapper uses ~0)
    return {"seconds": round(wall, 2), "cpu_seconds": round(float(user) + float(system), 2),
            "busiest_process_cpu_seconds": round(python, 2),
            "peak_rss_mb": round(int(max_kb) / 1024, 1), "sum_rss_mb": round(peak[0] / 2**20, 1)}


def build(n: int, data_dir: Path) -> Path:
    """The synthetic run folder of ``n`` rows (reused when a complete one is already there)."""
    from proxmo_analysis.credit.synthetic import write_synthetic_run

    run = data_dir / f"run-{n}"
    stamp = run / "benchmark.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("rows") == n:
        return run
    shutil.rmtree(run, ignore_errors=True)
    write_synthetic_run(n, run, rows_per_part=100_000, seed=0)
    stamp.write_text(json.dumps({"rows": n}))
    return run


#: the Ray arm's environment: without Ray's metrics agent, whose start-up deadline a loaded machine misses
RAY_ENV = {"RAY_enable_metrics_collection": "0"}
RAY_ARM = "score on Ray (the driver + 1 Ray CPU)"


def arm_commands(run: Path, n: int, data_dir: Path, workers: list[int], compare: bool = True,
                 ray: bool = False) -> dict[str, list[str]]:
    """The measured arms of one size: name -> the child's argv (pure: nothing is built or removed)."""
    arms = {"read scoring columns": [sys.executable, "-c", READ, str(run), ",".join(SCORING_COLUMNS)],
            "read all columns": [sys.executable, "-c", READ, str(run), "all"]}
    for w in workers:
        arms[f"score, {w} worker{'s' * (w > 1)}"] = [sys.executable, "-c", SCORE, "score", str(run), "--method",
                                                      "proxmo", "--out", str(data_dir / f"scored-{n}-w{w}"),
                                                      "--workers", str(w)]
    w = max(workers)
    if compare:
        arms[f"compare {COMPARED}, {w} worker{'s' * (w > 1)}"] = [sys.executable, "-c", SCORE, "compare", str(run),
                                                                  "--methods", COMPARED, "--workers", str(w)]
    if ray:
        arms[RAY_ARM] = [sys.executable, "-c", SCORE, "score", str(run), "--method", "proxmo", "--out",
                         str(data_dir / f"scored-{n}-ray"), "--backend", "ray", "--workers", "1"]
    return arms


def measure_size(n: int, data_dir: Path, workers: list[int], compare: bool = True, ray: bool = False,
                 only: list[str] | None = None) -> dict:
    run = build(n, data_dir)
    row = {"rows": n, "data_mb": round(sum(p.stat().st_size for p in run.glob("part-*")) / 2**20, 1),
           "load_before": load(), "arms": {}}
    arms = arm_commands(run, n, data_dir, workers, compare, ray)
    for w in workers:
        shutil.rmtree(data_dir / f"scored-{n}-w{w}", ignore_errors=True)
    if only:
        arms = {k: v for k, v in arms.items() if k in only}
    for name, argv in arms.items():
        shutil.rmtree(data_dir / f"scored-{n}-ray", ignore_errors=True)
        r = run_child(argv, RAY_ENV if name == RAY_ARM else None)
        row["arms"][name] = r
        print(f"{n:>11,} | {name:<22} | {r['seconds']:>8.2f} | {r['cpu_seconds']:>8.2f} | {r['peak_rss_mb']:>8.0f} "
              f"| {r['sum_rss_mb']:>8.0f}", flush=True)
    for w in workers:
        shutil.rmtree(data_dir / f"scored-{n}-w{w}", ignore_errors=True)
    shutil.rmtree(data_dir / f"scored-{n}-ray", ignore_errors=True)
    row["load_after"] = load()
    floor = row["arms"].get("read all columns", {}).get("seconds")
    for name, r in row["arms"].items():
        r["vs_read_all"] = round(r["seconds"] / floor, 2) if floor else None
    return row


def markdown_table(result: dict) -> str:
    """The measured table of ``docs/scale.md``, rendered from the result JSON (a test checks the page)."""
    lines = ["| rows | arm | wall s | CPU s | CPU s of the busiest process | peak RSS MB (largest process) "
             "| RSS MB (all processes) | wall / read all | load (1 min) |", "|---|---|---|---|---|---|---|---|---|"]
    for row in result["sizes"]:
        for name, r in row["arms"].items():
            before, after = r.get("load", (row["load_before"][0], row["load_after"][0]))  # an arm run on its own
            busiest = r.get("busiest_process_cpu_seconds")
            lines.append(f"| {row['rows']:,} | {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                         f"{'-' if busiest is None else f'{busiest:.1f}'} | {r['peak_rss_mb']:.0f} | "
                         f"{r['sum_rss_mb']:.0f} | {r['vs_read_all']:.1f} | {before:.0f}-{after:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e6,2e6,1e7", help="comma-separated row counts (default 1e6,2e6,1e7)")
    parser.add_argument("--huge", action="store_true", help="add 10^8 rows (about 0.4 GB of data, long)")
    parser.add_argument("--workers", default="1,2", help="scoring arms: comma-separated worker counts (1,2)")
    parser.add_argument("--data-dir", default=str(ROOT / "runs" / "bench-stream"),
                        help="where the synthetic run folders go (never committed; deleted unless --keep)")
    parser.add_argument("--ray", action="store_true", help=f"add the arm {RAY_ARM!r} (--backend ray)")
    parser.add_argument("--only", default="", help="semicolon-separated arm names to run (names hold commas) (default: all); merged "
                        "into the size's existing arms in --out")
    parser.add_argument("--no-compare", action="store_true", help="skip the proxmo compare arm")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic run folders for another run")
    parser.add_argument("--out", default=str(RESULT), help="result JSON (merged by size with an existing one)")
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()] + [10**8] * args.huge
    workers = [int(w) for w in args.workers.split(",")]
    data_dir = Path(args.data_dir)
    only = [a.strip() for a in args.only.split(";") if a.strip()] if args.only else None
    names = arm_commands(data_dir, 0, data_dir, workers, not args.no_compare, args.ray)
    unknown = [a for a in only or [] if a not in names]
    if unknown:  # checked before any data is built: a misspelt arm used to run nothing and say nothing
        raise SystemExit(f"stream_scale: --only names no arm {unknown}; arms: {'; '.join(names)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>11} | {'arm':<22} | {'wall s':>8} | {'CPU s':>8} | {'peak MB':>8} | {'sum MB':>8}")
    print("-" * 82)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                   "method": "proxmo (paper variant)", "rows_per_part": 100_000, "rows_per_batch": 100_000})
    by_size = {r["rows"]: r for r in result.get("sizes", [])}
    try:
        for n in sizes:
            row = measure_size(n, data_dir, workers, compare=not args.no_compare, ray=args.ray, only=only)
            if only and n in by_size:  # a re-run of some arms: keep the size's other arms
                kept = by_size[n]
                kept["arms"].update({k: {**v, "load": (row["load_before"][0], row["load_after"][0]),
                                         "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
                                     for k, v in row["arms"].items()})
                floor = kept["arms"]["read all columns"]["seconds"]
                for r in kept["arms"].values():
                    r["vs_read_all"] = round(r["seconds"] / floor, 2)
                row = kept
            row.setdefault("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
            by_size[n] = row
            result["sizes"] = [by_size[k] for k in sorted(by_size)]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"wrote {out}")
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
