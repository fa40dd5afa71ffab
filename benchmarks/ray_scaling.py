"""Where Ray starts to pay off: rollout steps/s and re-scoring rows/s, local backend vs Ray (1 and 2 workers).

    python benchmarks/ray_scaling.py            # ALFWorld 8 tasks x 4 (random, <= 15 steps), 200k rows
    python benchmarks/ray_scaling.py --quick    # 4 tasks x 2 (<= 10 steps), 40k rows
    python benchmarks/ray_scaling.py --env proxmo/WebShop-v0 --tasks 16 --group-size 8

ALFWorld (the real TextWorld engine, ~20 ms a step) is the default: its steps cost enough for workers
to matter. WebShop steps take well under a millisecond, so a WebShop rollout measures fixed costs.

Every arm runs in a fresh process (no shared caches). Ray arms start a local Ray with K CPUs and report
its fixed costs separately: ``ray.init``, creating the K env actors and building their first env, and
the first Ray Data job (worker start-up). The steady figures are the second call, as in a training
loop that reuses the actors and the Ray session. Local rollouts with K=2 pay their process start-up and
env build on every call, which is included (that is what each training iteration pays).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

def _init_ray(workers: int) -> float:
    """Start a local Ray with ``workers`` CPUs; its start-up time in seconds (Ray's fixed cost)."""
    import ray

    t = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    return time.perf_counter() - t


def _rollout_arm(backend: str, workers: int, env: str, tasks: int, group_size: int, max_steps: int,
                 tmp: Path) -> dict:
    from proxmo_envs.rollout import rollout

    out: dict = {}
    if backend == "ray":
        import ray

        from proxmo_envs.rollout import ray_backend

        out["init_s"] = _init_ray(workers)
        t = time.perf_counter()
        actors = ray_backend.worker_pool(workers)
        ray.get([a.warm.remote(env, {}) for a in actors])
        out["actors_s"] = time.perf_counter() - t
    runs = []
    for k in range(2):  # a first call (cold for local; actors warm for Ray), then the steady one
        s = rollout(env, {}, "random", tasks=tasks, group_size=group_size, out=tmp / f"{backend}{workers}-{k}",
                    seed=k, workers=workers, backend=backend, max_steps=max_steps)
        runs.append((s.session_steps, s.session_seconds))
    out["first_s"] = runs[0][1]
    out["steps_per_s"] = runs[1][0] / runs[1][1]
    out["steps"] = runs[1][0]
    return out


def _score_arm(backend: str, workers: int, run: Path, tiny: Path, tmp: Path) -> dict:
    out: dict = {}
    if backend == "ray":
        from proxmo_analysis.credit.stream import score_run_ray

        out["init_s"] = _init_ray(workers)
        t = time.perf_counter()
        score_run_ray(tiny, tmp / "warm", "proxmo")
        out["first_job_s"] = time.perf_counter() - t
        t = time.perf_counter()
        summary = score_run_ray(run, tmp / "scored", "proxmo")
    else:
        from proxmo_analysis.credit.stream import score_run

        t = time.perf_counter()
        summary = score_run(run, tmp / "scored", "proxmo", workers=workers)
    seconds = time.perf_counter() - t
    out["rows_per_s"] = summary["rows"] / seconds
    out["rows"] = summary["rows"]
    return out


def _child(args: argparse.Namespace) -> None:
    import logging

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    try:
        if args.arm == "rollout":
            result = _rollout_arm(args.backend, args.workers, args.env, args.tasks, args.group_size,
                                  args.max_steps, tmp)
        else:
            result = _score_arm(args.backend, args.workers, Path(args.run), Path(args.tiny), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("RESULT " + json.dumps(result))


def _spawn(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"benchmark arm {argv} failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (4 tasks x 2, <= 10 steps, 40k rows)")
    p.add_argument("--env", default="proxmo/ALFWorld-v0", help="env of the rollouts (proxmo/ALFWorld-v0)")
    p.add_argument("--tasks", type=int, default=None, help="tasks per rollout (8)")
    p.add_argument("--group-size", type=int, default=None, help="episodes per task (4)")
    p.add_argument("--max-steps", type=int, default=None, help="step cap per episode (15)")
    p.add_argument("--rows", type=int, default=None, help="synthetic rows to re-score (200000)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--arm", default=None, help=argparse.SUPPRESS)
    p.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--run", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tiny", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return
    tasks = args.tasks or (4 if args.quick else 8)
    group_size = args.group_size or (2 if args.quick else 4)
    max_steps = args.max_steps or (10 if args.quick else 15)
    n_rows = args.rows or (40_000 if args.quick else 200_000)

    from rich.console import Console
    from rich.table import Table

    from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run

    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    try:
        run = write_run(alfworld_like_log(n_rows, iterations=2, seed=0), tmp / "run", rows_per_part=20_000)
        tiny = write_run(alfworld_like_log(2_000, seed=1), tmp / "tiny")
        arms = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]
        roll, scoring = {}, {}
        for backend, k in arms:
            console.print(f"rollout {backend} x{k} ...", style="dim")
            roll[backend, k] = _spawn("--arm", "rollout", "--backend", backend, "--workers", str(k), "--env",
                                      args.env, "--tasks", str(tasks), "--group-size", str(group_size),
                                      "--max-steps", str(max_steps))
            console.print(f"re-scoring {backend} x{k} ...", style="dim")
            scoring[backend, k] = _spawn("--arm", "score", "--backend", backend, "--workers", str(k),
                                         "--run", str(run), "--tiny", str(tiny))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base_roll, base_score = roll["local", 1]["steps_per_s"], scoring["local", 1]["rows_per_s"]
    table = Table(title=f"Throughput: {args.env} random rollouts ({tasks} tasks x {group_size}, <= {max_steps} steps), "
                        f"proxmo re-scoring ({n_rows} synthetic rows)")
    for col in ("backend", "workers", "rollout steps/s", "vs local x1", "re-score rows/s", "vs local x1"):
        table.add_column(col, justify="right")
    for backend, k in arms:
        r, s = roll[backend, k], scoring[backend, k]
        table.add_row(backend, str(k), f"{r['steps_per_s']:.0f}", f"{r['steps_per_s'] / base_roll:.2f}",
                      f"{s['rows_per_s']:.0f}", f"{s['rows_per_s'] / base_score:.2f}")
    console.print(table)
    fixed = Table(title="Ray fixed costs (s), paid once per process / session")
    for col in ("workers", "ray.init", "actors + first env episode", "first rollout call",
                "first Ray Data job (2k rows)"):
        fixed.add_column(col, justify="right")
    for k in (1, 2):
        r, s = roll["ray", k], scoring["ray", k]
        first_call = r["first_s"]
        fixed.add_row(str(k), f"{r['init_s']:.1f} / {s['init_s']:.1f}", f"{r['actors_s']:.1f}",
                      f"{first_call:.2f}", f"{s['first_job_s']:.1f}")
    console.print(fixed)
    console.print(f"steps per rollout call: {roll['local', 1]['steps']} (steady = second call of the process)")

if __name__ == "__main__":
    main()
