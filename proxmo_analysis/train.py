"""The training loop: rollout → Parquet log → credit assignment → PPO update, with held-out evaluation.

Each iteration ``k`` (1-based) samples ``tasks`` training tasks, runs ``group_size`` episodes of each with
the current policy through the rollout runner (``out/rollouts/iter-KKKK``), reads the run, scores it with
the chosen credit method and takes one PPO update. Before the first iteration and every ``eval_every``
iterations (and after the last) the greedy policy plays the first ``eval_tasks`` tasks of the held-out
split once each (``out/eval/iter-KKKK``). Everything lands in ``out/``:

* ``metrics.csv`` — one row per iteration (row 0: the untrained policy's evaluation);
* ``learning_curve.png`` — training and held-out success (and score) against iterations;
* ``checkpoints/last.pt`` (every iteration) and ``checkpoints/iter-KKKK.pt`` (at evaluations);
* ``config.json`` — the configuration the run was started with.

``resume=True`` continues from ``checkpoints/last.pt`` (the policy, its PPO reference, Adam's state and
the metrics so far); an interrupted rollout folder of the next iteration is completed, not restarted.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from proxmo_analysis.errors import InputError
from proxmo_analysis.policy.config import PPOConfig

#: The split each known env trains and evaluates on (ALFWorld: evaluation on unseen rooms).
DEFAULT_SPLITS = {
    "proxmo/WebShop-v0": ("train", "test"),
    "proxmo/ALFWorld-v0": ("train", "eval_unseen"),
}
CHECKPOINT = "last.pt"
#: TrainConfig fields a run must share with its ``init_from`` start (they determine the policy and evaluation 0).
START_KEYS = ("env_id", "policy", "policy_config", "seed", "env_kwargs", "train_split", "eval_split", "eval_tasks",
              "max_steps", "warm_start_games", "warm_start_epochs", "warm_start_lr")
REWARDS = ("won", "env")
WIN_REWARD = 10.0


def training_rewards(df, reward: str):
    """The rewards the credit method sees. ``"env"``: the logged ``reward`` column unchanged. ``"won"``:
    ``10 * won`` on the last step of each episode and 0 elsewhere (the GiGPO/ProxMO training convention),
    ``episode_return`` to match. With the small scorer starting from a uniform policy, "won" is too sparse
    to learn from in the default budget (measured in the README), so "env" is the default. The run folder
    on disk keeps the environment's rewards either way."""
    import polars as pl

    if reward == "env":
        return df
    last = pl.col("step") == pl.col("step").max().over("episode_id")
    won = pl.col("won").cast(pl.Float32) * WIN_REWARD
    return df.with_columns(
        pl.when(last).then(won).otherwise(0.0).cast(pl.Float32).alias("reward"),
        won.cast(pl.Float32).alias("episode_return"),
    )


@dataclass
class TrainConfig:
    """Configuration of :func:`train` (defaults: the README's main job, ~10 min on 2 cores)."""

    env_id: str = "proxmo/WebShop-v0"
    method: str = "proxmo"  # a registered credit method (proxmo_analysis.credit.registry), ablations included
    credit: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments of proxmo_analysis.score
    reward: str = "env"  # "env": the logged env reward (WebShop: the score); "won": 10 x won on the last step
    iterations: int = 20
    tasks: int = 16  # training tasks sampled per iteration
    group_size: int = 8  # N episodes per task (the task group)
    policy: str = "scorer"  # policy backend: "scorer" or "causal_lm"
    policy_config: dict[str, Any] = field(default_factory=dict)  # ScorerConfig / CausalLMConfig fields
    ppo: PPOConfig = field(default_factory=PPOConfig)
    eval_every: int = 5
    eval_tasks: int = 100  # first n tasks of the held-out split, one greedy episode each
    seed: int = 0
    out: str = "runs/train"
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # shared gym.make kwargs
    train_split: str | None = None  # None: DEFAULT_SPLITS of the env (no split kwarg for unknown envs)
    eval_split: str | None = None
    workers: int = 1  # rollout worker processes
    backend: str = "local"  # rollout backend: "local" processes or "ray" env actors
    address: str | None = None  # backend="ray": the Ray cluster to join (None: a local Ray)
    max_steps: int | None = None  # extra step cap over the env's own
    warm_start_games: int = 0  # >0: behaviour-clone this many train-split walkthroughs before iteration 0
    warm_start_epochs: int = 20  # epochs of the warm start's cross-entropy fit
    warm_start_lr: float = 1e-2  # Adam learning rate of the warm start
    # False: iterations sample their tasks from the train split minus the warm-start games. A cloned game is
    # already won by every rollout of its group, so it carries no advantage and would only spend the budget.
    rl_on_warm_start_games: bool = False
    # A run folder trained to iteration 0 (same env, policy, seed, warm start and evaluation settings): this
    # run starts from its policy and reuses its iteration-0 evaluation instead of repeating both.
    init_from: str | None = None

    def __post_init__(self) -> None:
        """Every setting is checked here, before any folder, env or rollout exists (one InputError)."""
        from proxmo_analysis.checks import check_choice, check_int, check_number

        if isinstance(self.ppo, dict):
            self.ppo = PPOConfig(**self.ppo)
        if not isinstance(self.ppo, PPOConfig):
            raise InputError(f"TrainConfig.ppo must be a PPOConfig, got {type(self.ppo).__name__}")
        check_choice("TrainConfig.reward", self.reward, REWARDS)
        from proxmo_analysis.credit.registry import get_method, make_config

        try:
            get_method(self.method)
        except ValueError as err:
            raise InputError(str(err)) from None
        check_choice("TrainConfig.policy", self.policy, ("scorer", "causal_lm"))
        check_choice("TrainConfig.backend", self.backend, ("local", "ray"))
        for name in ("iterations", "eval_tasks", "warm_start_games", "warm_start_epochs"):
            check_int(f"TrainConfig.{name}", getattr(self, name), low=0)
        for name in ("tasks", "group_size", "eval_every", "workers"):
            check_int(f"TrainConfig.{name}", getattr(self, name), low=1)
        check_int("TrainConfig.seed", self.seed)
        if self.max_steps is not None:
            check_int("TrainConfig.max_steps", self.max_steps, low=1)
        check_number("TrainConfig.warm_start_lr", self.warm_start_lr, low=0.0, strict=True)
        for name in ("credit", "policy_config", "env_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise InputError(f"TrainConfig.{name} must be a dict, got {getattr(self, name)!r}")
        if "split" in self.env_kwargs:
            # split_kwargs() sets the split of each side; a split here would be recorded but never used
            raise InputError(f"env_kwargs split={self.env_kwargs['split']!r}: set train_split / eval_split "
                             "(--train-split / --eval-split) instead")
        # The credit settings are validated now, not after the first rollout (e.g. --credit tau=abc).
        try:
            make_config(self.method, self.credit)
        except (ValueError, TypeError) as err:
            raise InputError(f"credit settings of {self.method}: {err}") from None
        from proxmo_analysis.policy.checkpoint import policy_config_of

        policy_config_of(self.policy, self.policy_config)

    def split_kwargs(self, which: str) -> dict[str, Any]:
        """gym.make kwargs of the training (``which="train"``) or held-out (``"eval"``) environment."""
        defaults = DEFAULT_SPLITS.get(self.env_id)
        split = self.train_split if which == "train" else self.eval_split
        if split is None and defaults is not None:
            split = defaults[0] if which == "train" else defaults[1]
        kwargs = dict(self.env_kwargs)
        if split is not None:
            kwargs["split"] = split
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


METRIC_FIELDS = [
    "iteration", "episodes", "train_success", "train_score", "train_length", "invalid_rate",
    "loss", "pg_loss", "kl", "entropy", "clip_frac", "grad_norm",
    "rollout_s", "score_s", "update_s", "iteration_s",
    "eval_success", "eval_score", "eval_length", "eval_s", "warm_start_loss", "warm_start_s",
]


def task_sample(seed: int, iteration: int, n_tasks: int, task_count: int) -> list[int]:
    """The training task indices of one iteration: ``n_tasks`` distinct indices, reproducible from
    ``(seed, iteration)`` (with replacement only when the split has fewer tasks than asked)."""
    rng = np.random.default_rng([int(seed), int(iteration)])
    picked = rng.choice(task_count, size=n_tasks, replace=n_tasks > task_count)
    return sorted(int(i) for i in picked)


def warm_start_games(config: "TrainConfig", task_count: int) -> list[int]:
    """The train-split task indices a run behaviour-clones (empty without a warm start); a function of the
    seed only, so every method of a seed clones the same games."""
    if config.warm_start_games == 0:
        return []
    return task_sample(config.seed, 0, min(config.warm_start_games, task_count), task_count)


def training_pool(config: "TrainConfig", task_count: int) -> list[int]:
    """The train-split task indices iterations sample from: all of them, or those not behaviour-cloned
    (``rl_on_warm_start_games=False``, the default) when some are left."""
    pool = list(range(task_count))
    if not config.rl_on_warm_start_games:
        cloned = set(warm_start_games(config, task_count))
        rest = [i for i in pool if i not in cloned]
        pool = rest or pool
    return pool


def _task_count(env_id: str, kwargs: dict[str, Any]) -> int:
    import gymnasium as gym

    import proxmo_envs  # noqa: F401  (registers the ids)

    env = gym.make(env_id, **kwargs)
    try:
        count = getattr(env.unwrapped, "task_count", None)
    finally:
        env.close()
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"{env_id} ({kwargs}) exposes no positive task_count; it cannot be trained on")
    return count


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


def assign_credit(df, method: str, credit: dict[str, Any]):
    """``proxmo_analysis.score`` with a registered method (ablations such as ``proxmo_wo_psa`` included)."""
    from proxmo_analysis.credit import score

    return score(df, method=method, **credit)


def _episode_stats(summary) -> dict[str, float]:
    return {
        "episodes": summary.episodes,
        "success": summary.success_rate,
        "score": summary.mean_score,
        "length": summary.mean_length,
        "invalid_rate": summary.invalid_action_rate,
    }


class Trainer:
    """One training run in ``config.out`` (see the module docstring). Use :func:`train` for the whole loop."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        from proxmo_analysis.policy.checkpoint import build_policy, load_checkpoint
        from proxmo_analysis.policy.ppo import make_optimizer

        self.config = config
        self.out = Path(config.out)
        self.train_kwargs = config.split_kwargs("train")
        self.eval_kwargs = config.split_kwargs("eval")
        self.train_task_count = _task_count(config.env_id, self.train_kwargs)
        if config.tasks > self.train_task_count:
            raise InputError(f"tasks={config.tasks} is more than the {self.train_task_count} tasks of the training "
                             f"split ({self.train_kwargs})")
        if config.eval_tasks:
            eval_count = _task_count(config.env_id, self.eval_kwargs)
            if config.eval_tasks > eval_count:
                raise InputError(f"eval_tasks={config.eval_tasks} is more than the {eval_count} tasks of the "
                                 f"held-out split ({self.eval_kwargs})")
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"out={str(self.out)!r} is a file, not a folder")
        ck_path = self.out / "checkpoints" / CHECKPOINT
        if resume and ck_path.is_file():
            ck = _load_resumable(ck_path, seed=config.seed)
            saved = ck.extra.get("config", {})
            for key in ("env_id", "method", "policy", "group_size", "tasks", "seed"):
                if key in saved and saved[key] != getattr(config, key):
                    raise ValueError(
                        f"{ck_path}: cannot resume, {key} differs (checkpoint: {saved[key]!r}, now: "
                        f"{getattr(config, key)!r})"
                    )
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
            if config.init_from:
                self.policy, self.warm_start = self._start_from(Path(config.init_from))
            else:
                self.policy = build_policy(config.policy, config.policy_config, seed=config.seed)
                self.warm_start = self._warm_start()
            # The PPO reference (KL anchor) is the warm-started policy, as the paper's is its SFT/instruct model.
            self.ref = self.policy.clone_frozen()
            self.optimizer = make_optimizer(self.policy, config.ppo)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
        self.train_pool = training_pool(config, self.train_task_count)

    # ---- pieces ---------------------------------------------------------------------------------------
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
        for key in START_KEYS:
            if saved.get(key) != getattr(self.config, key):
                raise ValueError(f"init_from={str(start)!r}: {key} differs (start: {saved.get(key)!r}, this run: "
                                 f"{getattr(self.config, key)!r})")
        rows = [r for r in ck.extra.get("metrics", []) if r.get("iteration") == 0]
        if len(rows) != 1:
            raise ValueError(f"init_from={str(start)!r}: {ck_path} holds no iteration-0 evaluation")
        self.metrics = [dict(rows[0])]
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
        """Greedy held-out evaluation of the current policy on the first ``eval_tasks`` tasks."""
        folder = self.out / "eval" / f"iter-{iteration:04d}"
        t0 = time.perf_counter()
        eval_count = _task_count(self.config.env_id, self.eval_kwargs)
        n = min(self.config.eval_tasks, eval_count)
        summary = self._rollout(folder, self.eval_kwargs, self.policy.episodic(greedy=True), list(range(n)), 1, iteration)
        stats = _episode_stats(summary)
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
        stats = _episode_stats(summary)
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
        if self.done == 0 and not any(r["iteration"] == 0 for r in self.metrics):
            row = {"iteration": 0, **self.evaluate(0)}
            if getattr(self, "warm_start", None):
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
        plot_learning_curve(self.metrics, self.out / "learning_curve.png", title=f"{cfg.env_id} · {cfg.method} · seed {cfg.seed}")
        return self.metrics


def train(config: TrainConfig, resume: bool = False, on_row: Callable[[dict[str, Any]], None] | None = None):
    """Run a whole training (see the module docstring); returns the metrics rows."""
    return Trainer(config, resume=resume).run(on_row=on_row)


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """``metrics.csv``: one row per iteration, columns :data:`METRIC_FIELDS` (blank where not measured)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in METRIC_FIELDS})
    tmp.replace(path)


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def plot_learning_curve(rows: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Training and held-out success rate (left) and score (right) against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "success", "success rate"), (axes[1], "score", "mean task score")):
        tr = [(r["iteration"], r[f"train_{key}"]) for r in rows if r.get(f"train_{key}") is not None]
        ev = [(r["iteration"], r[f"eval_{key}"]) for r in rows if r.get(f"eval_{key}") is not None]
        if tr:
            ax.plot(*zip(*tr), marker=".", label=f"training rollouts (sampled)")
        if ev:
            ax.plot(*zip(*ev), marker="o", label=f"held-out (greedy)")
        ax.set_xlabel("iteration (PPO updates)")
        ax.set_ylabel(label)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
