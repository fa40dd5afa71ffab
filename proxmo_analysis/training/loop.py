"""The training loop (``Trainer``, ``train``): rollout → Parquet log → credit assignment → PPO update, with held-out evaluation.

Each iteration ``k`` (1-based) samples ``tasks`` training tasks, runs ``group_size`` episodes of each with
the current policy through the rollout runner (``out/rollouts/iter-KKKK``), reads the run, scores it with
the chosen credit method and takes one PPO update. Before the first iteration and every ``eval_every``
iterations (and after the last) the greedy policy plays the first ``eval_tasks`` tasks of the held-out
split once each (``out/eval/iter-KKKK``). Everything lands in ``out/``:

* ``metrics.csv`` — one row per iteration (row 0: the starting policy's evaluation — untrained, or the warm start);
* ``learning_curve.png`` — training and held-out success (and score) against iterations;
* ``checkpoints/last.pt`` (every iteration) and ``checkpoints/iter-KKKK.pt`` (at evaluations);
* ``config.json`` — the configuration the run was started with.

``resume=True`` continues from ``checkpoints/last.pt`` (the policy, its PPO reference, Adam's state and
the metrics so far); an interrupted rollout folder of the next iteration is completed, not restarted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from proxmo_analysis.errors import InputError

from .config import START_KEYS, TrainConfig
from .metrics import episode_stats, write_metrics
from .scoring import assign_credit, training_rewards
from .tasks import task_count, task_sample, training_pool, warm_start_games

CHECKPOINT = "last.pt"


def _load_resumable(ck_path: Path, seed: int):
    """``load_checkpoint(ck_path)``; when it is damaged (e.g. truncated by a full disk), the one-line error
    names the newest evaluation checkpoint ``iter-*.pt`` that does load, to copy over it and resume from."""
    from proxmo_analysis.policy.checkpoint import CheckpointError, load_checkpoint, read_payload

    try:
        return load_checkpoint(ck_path, seed=seed)
    except CheckpointError as err:
        good = None
        for candidate in sorted(ck_path.parent.glob("iter-*.pt"), reverse=True):
            try:
                read_payload(candidate)
            except CheckpointError:
                continue
            good = candidate
            break
        hint = (f"; the newest good checkpoint is {good}: copy it to {ck_path} and --resume from there"
                if good else "; no good iter-*.pt beside it: start the run again in a new --out")
        raise CheckpointError(f"cannot resume: {err}{hint}") from None


#: Settings a resumed run may change: how far to train and where rollouts run (1 or 2 workers, local or Ray
#: give the same episodes). Every other setting shaped the checkpoint or the iterations already logged.
RESUMABLE_CHANGES = ("iterations", "workers", "backend", "address", "out")
#: PPO settings added after runs were saved, with the value such a run trained with (not today's default)
LEGACY_PPO = {"loss_agg": "row"}


def resume_differences(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """``"key: run X, now Y"`` for every setting of ``config`` that differs from the run's ``saved`` config
    (nested ones as ``ppo.lr``), compared as JSON values, leaving out :data:`RESUMABLE_CHANGES`."""
    now = json.loads(json.dumps(config.to_dict(), default=str))
    saved = json.loads(json.dumps(saved, default=str))
    if isinstance(saved.get("ppo"), dict):
        # a PPO setting newer than the run: the run trained with the behaviour from before the setting existed
        saved["ppo"] = {**LEGACY_PPO, **saved["ppo"]}
    out = []

    def walk(a: Any, b: Any, name: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict) and name in ("ppo",):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{name}.{key}")
        elif a != b:
            out.append(f"{name}: run {a!r}, now {b!r}")

    for key in sorted(set(saved) | set(now)):
        if key in RESUMABLE_CHANGES or key not in saved:  # a field newer than the run keeps its default
            continue
        walk(saved[key], now.get(key), key)
    return out


class Trainer:
    """One training run in ``config.out`` (see the module docstring). Use :func:`train` for the whole loop."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        from proxmo_analysis.policy.ppo import make_optimizer

        self.config = config
        self.out = Path(config.out)
        self.train_kwargs = config.split_kwargs("train")
        self.eval_kwargs = config.split_kwargs("eval")
        self.train_task_count = task_count(config.env_id, self.train_kwargs)
        if config.tasks > self.train_task_count:
            raise InputError(f"tasks={config.tasks} is more than the {self.train_task_count} tasks of the training "
                             f"split ({self.train_kwargs})")
        if config.eval_tasks:
            eval_count = task_count(config.env_id, self.eval_kwargs)
            if config.eval_tasks > eval_count:
                raise InputError(f"eval_tasks={config.eval_tasks} is more than the {eval_count} tasks of the "
                                 f"held-out split ({self.eval_kwargs})")
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"out={str(self.out)!r} is a file, not a folder")
        self.warm_start: dict[str, Any] | None = None  # the warm-start record, set by start_policy()
        ck_path = self.out / "checkpoints" / CHECKPOINT
        if resume and ck_path.is_file():
            ck = _load_resumable(ck_path, seed=config.seed)
            differ = resume_differences(ck.extra.get("config", {}), config)
            if differ:
                raise InputError(
                    f"{ck_path}: cannot resume with other settings than the run's ({'; '.join(differ)}): the "
                    "restored optimizer and the earlier iterations used the run's; pass the settings in "
                    f"{self.out / 'config.json'} (only --iterations, --workers, --backend, --address may change) "
                    "or train into a new --out")
            self.policy = ck.policy
            self.ref = ck.ref_policy or self.policy.clone_frozen()
            self.optimizer = make_optimizer(self.policy, config.ppo)
            if ck.optimizer_state is not None:
                self.optimizer.load_state_dict(ck.optimizer_state)
            self.done = int(ck.extra.get("iteration", 0))
            self.metrics: list[dict[str, Any]] = list(ck.extra.get("metrics", []))
        else:
            if not resume and self.out.exists() and (ck_path.is_file() or (self.out / "metrics.csv").exists()):
                raise ValueError(f"{self.out} already holds a training run; pass resume=True (--resume) or another --out")
            self.out.mkdir(parents=True, exist_ok=True)
            self.done = 0
            self.metrics = []
            # built by start_policy(), the loop's first step: warm start or the init_from run's policy
            self.policy = self.ref = self.optimizer = None
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
        self.train_pool = training_pool(config, self.train_task_count)

    # ---- the steps of the loop --------------------------------------------------------------------------
    def start_policy(self) -> dict[str, Any] | None:
        """Step 0 of a new run: the starting policy (a fresh one, behaviour-cloned when ``warm_start_games``
        > 0, or the ``init_from`` run's), its frozen PPO reference and the optimizer. Returns the warm-start
        record (None without one). :meth:`run` calls it when the run has no policy yet."""
        from proxmo_analysis.policy.checkpoint import build_policy
        from proxmo_analysis.policy.ppo import make_optimizer

        cfg = self.config
        if cfg.init_from:
            self.policy, self.warm_start = self._start_from(Path(cfg.init_from))
        else:
            self.policy = build_policy(cfg.policy, cfg.policy_config, seed=cfg.seed)
            self.warm_start = self._warm_start()
        # The PPO reference (KL anchor) is the warm-started policy, as the paper's is its SFT/instruct model.
        self.ref = self.policy.clone_frozen()
        self.optimizer = make_optimizer(self.policy, cfg.ppo)
        return self.warm_start

    def _start_from(self, start: Path):
        """Policy and warm-start record of the iteration-0 run in ``start``; its evaluation row 0 and folder
        are copied, so this run continues exactly as if it had computed them itself."""
        from proxmo_analysis.policy.checkpoint import load_checkpoint

        ck_path = start / "checkpoints" / CHECKPOINT
        if not ck_path.is_file():
            raise FileNotFoundError(f"init_from={str(start)!r}: no {ck_path} (train it with iterations=0 first)")
        ck = load_checkpoint(ck_path, seed=self.config.seed)
        saved = ck.extra.get("config", {})
        if int(ck.extra.get("iteration", -1)) != 0:
            raise ValueError(f"init_from={str(start)!r}: {ck_path} is at iteration {ck.extra.get('iteration')}, "
                             "not 0; a shared start must be an untrained (warm-started only) run")
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        for key in START_KEYS:
            # a start saved before a setting existed ran with that setting's default
            theirs = saved.get(key, defaults.get(key))
            if theirs != getattr(self.config, key):
                raise ValueError(f"init_from={str(start)!r}: {key} differs (start: {theirs!r}, this run: "
                                 f"{getattr(self.config, key)!r})")
        rows = [r for r in ck.extra.get("metrics", []) if r.get("iteration") == 0]
        if len(rows) != 1:
            raise ValueError(f"init_from={str(start)!r}: {ck_path} holds no iteration-0 evaluation")
        self.metrics = [dict(rows[0])]
        if self.config.eval_tasks:  # a start without evaluation (eval_tasks=0) has no eval folder to copy
            shutil.copytree(start / "eval" / "iter-0000", self.out / "eval" / "iter-0000", dirs_exist_ok=True)
        warm = None
        if (start / "warm_start.json").is_file():
            shutil.copyfile(start / "warm_start.json", self.out / "warm_start.json")
            warm = json.loads((start / "warm_start.json").read_text())
        return ck.policy, warm

    def _warm_start(self) -> dict[str, Any] | None:
        """Behaviour cloning on ``warm_start_games`` train-split walkthroughs (``out/warm_start/``); the games
        depend only on the seed (``task_sample(seed, 0, ...)``), so every method of a seed starts identical.
        The result is written to ``out/warm_start.json`` and returned (None when disabled)."""
        cfg = self.config
        if cfg.warm_start_games == 0:
            return None
        from proxmo_analysis.policy.pretrain import behaviour_clone

        games = warm_start_games(cfg, self.train_task_count)
        t0 = time.perf_counter()
        result = behaviour_clone(
            self.policy, cfg.env_id, self.train_kwargs, games, epochs=cfg.warm_start_epochs, lr=cfg.warm_start_lr,
            seed=cfg.seed, out=self.out / "warm_start", max_steps=cfg.max_steps, workers=cfg.workers,
            recovery_rounds=cfg.warm_start_recovery,
        )
        result = {**result, "task_indices": games, "seconds": time.perf_counter() - t0}
        (self.out / "warm_start.json").write_text(json.dumps(result, indent=2) + "\n")
        return result

    def _rollout(self, folder: Path, env_kwargs: dict, policy, tasks, group_size: int, iteration: int):
        from proxmo_envs.rollout import rollout

        # A folder left by an interrupted run is completed with the same seeds, not restarted.
        resume = (folder / "manifest.json").is_file()
        return rollout(
            self.config.env_id, env_kwargs, policy, tasks, group_size, folder, workers=self.config.workers, seed=self.config.seed,
            iteration=iteration, resume=resume, max_steps=self.config.max_steps,
            backend=self.config.backend, address=self.config.address,
        )

    def evaluate(self, iteration: int) -> dict[str, float]:
        """Greedy held-out evaluation of the current policy on the first ``eval_tasks`` tasks (none, and no
        folder, when ``eval_tasks`` is 0: a run that only trains, e.g. the learning sanity checks)."""
        if self.config.eval_tasks == 0:
            return {}
        folder = self.out / "eval" / f"iter-{iteration:04d}"
        t0 = time.perf_counter()
        eval_count = task_count(self.config.env_id, self.eval_kwargs)
        n = min(self.config.eval_tasks, eval_count)
        summary = self._rollout(folder, self.eval_kwargs, self.policy.episodic(greedy=True), list(range(n)), 1, iteration)
        stats = episode_stats(summary)
        return {
            "eval_success": stats["success"],
            "eval_score": stats["score"],
            "eval_length": stats["length"],
            "eval_s": time.perf_counter() - t0,
        }

    def step(self, iteration: int) -> dict[str, Any]:
        """Rollout, score and update of 1-based ``iteration``; returns its metrics row (no evaluation)."""
        from proxmo_analysis.logs import read_log
        from proxmo_analysis.policy.ppo import ppo_update

        cfg = self.config
        t0 = time.perf_counter()
        folder = self.out / "rollouts" / f"iter-{iteration:04d}"
        tasks = [self.train_pool[i] for i in task_sample(cfg.seed, iteration, cfg.tasks, len(self.train_pool))]
        summary = self._rollout(folder, self.train_kwargs, self.policy.episodic(greedy=False), tasks, cfg.group_size, iteration)
        t1 = time.perf_counter()
        if summary.episodes == 0:
            raise RuntimeError(f"iteration {iteration}: every episode failed; see {folder / 'failures.jsonl'}")
        df = read_log(folder)
        scored = assign_credit(training_rewards(df, cfg.reward), cfg.method, cfg.credit)
        t2 = time.perf_counter()
        ppo_cfg = dataclasses.replace(cfg.ppo, seed=cfg.ppo.seed + iteration)
        upd = ppo_update(self.policy, scored, ppo_cfg, ref_policy=self.ref, optimizer=self.optimizer)
        t3 = time.perf_counter()
        stats = episode_stats(summary)
        return {
            "iteration": iteration,
            "episodes": stats["episodes"],
            "train_success": stats["success"],
            "train_score": stats["score"],
            "train_length": stats["length"],
            "invalid_rate": stats["invalid_rate"],
            **{k: upd.get(k, math.nan) for k in ("loss", "pg_loss", "kl", "entropy", "clip_frac", "grad_norm")},
            "rollout_s": t1 - t0,
            "score_s": t2 - t1,
            "update_s": t3 - t2,
            "iteration_s": t3 - t0,
        }

    def save(self) -> None:
        from proxmo_analysis.policy.checkpoint import save_checkpoint

        extra = {"iteration": self.done, "metrics": self.metrics, "config": self.config.to_dict()}
        save_checkpoint(self.out / "checkpoints" / CHECKPOINT, self.policy, self.ref, self.optimizer, extra)
        write_metrics(self.out / "metrics.csv", self.metrics)

    def run(self, on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Run the remaining iterations; ``on_row(row)`` is called after each metrics row."""
        cfg = self.config
        if self.policy is None:
            self.start_policy()
        if self.done == 0 and not any(r["iteration"] == 0 for r in self.metrics):
            row = {"iteration": 0, **self.evaluate(0)}
            if self.warm_start:
                row["warm_start_loss"] = self.warm_start["losses"][-1] if self.warm_start["losses"] else math.nan
                row["warm_start_s"] = self.warm_start["seconds"]
            self.metrics.append(row)
            self.save()
            if on_row:
                on_row(row)
        for iteration in range(self.done + 1, cfg.iterations + 1):
            row = self.step(iteration)
            self.done = iteration
            if iteration % cfg.eval_every == 0 or iteration == cfg.iterations:
                row.update(self.evaluate(iteration))
            self.metrics.append(row)
            self.save()
            if "eval_success" in row:
                shutil.copyfile(self.out / "checkpoints" / CHECKPOINT, self.out / "checkpoints" / f"iter-{iteration:04d}.pt")
            if on_row:
                on_row(row)
        from proxmo_analysis.plots import training_curve_figure

        fig = training_curve_figure(self.metrics, title=f"{cfg.env_id} · {cfg.method} · seed {cfg.seed}")
        fig.savefig(self.out / "learning_curve.png", dpi=100)
        return self.metrics


def train(config: TrainConfig, resume: bool = False, on_row: Callable[[dict[str, Any]], None] | None = None):
    """Run a whole training (see the module docstring); returns the metrics rows."""
    return Trainer(config, resume=resume).run(on_row=on_row)
