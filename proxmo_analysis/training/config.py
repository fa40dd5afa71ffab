"""``TrainConfig``: every setting of a training run, validated in one place, and the env splits it uses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from proxmo_analysis.errors import InputError
from proxmo_analysis.policy.config import PPOConfig

#: The split each known env trains and evaluates on (ALFWorld: evaluation on unseen rooms).
DEFAULT_SPLITS = {
    "proxmo/WebShop-v0": ("train", "test"),
    "proxmo/ALFWorld-v0": ("train", "eval_unseen"),
}
#: TrainConfig fields a run must share with its ``init_from`` start (they determine the policy and evaluation 0).
START_KEYS = ("env_id", "policy", "policy_config", "seed", "env_kwargs", "train_split", "eval_split", "eval_tasks",
              "max_steps", "warm_start_games", "warm_start_epochs", "warm_start_lr", "warm_start_recovery")
REWARDS = ("won", "env")
WIN_REWARD = 10.0


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
    # rounds of recovery states after the walkthrough fit (roll the cloned policy out on the cloned games,
    # label the states it reaches with the expert's continuation, refit; policy.pretrain)
    warm_start_recovery: int = 0
    # a fixed set of train-split task indices every iteration samples from (None: the whole split)
    train_tasks: list[int] | None = None
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
        for name in ("iterations", "eval_tasks", "warm_start_games", "warm_start_epochs", "warm_start_recovery"):
            check_int(f"TrainConfig.{name}", getattr(self, name), low=0)
        for name in ("tasks", "group_size", "eval_every", "workers"):
            check_int(f"TrainConfig.{name}", getattr(self, name), low=1)
        check_int("TrainConfig.seed", self.seed)
        if self.train_tasks is not None:
            if not isinstance(self.train_tasks, (list, tuple)) or not self.train_tasks:
                raise InputError(f"TrainConfig.train_tasks must be a non-empty list of task indices, got {self.train_tasks!r}")
            for i in self.train_tasks:
                check_int("TrainConfig.train_tasks entry", i, low=0)
            self.train_tasks = [int(i) for i in self.train_tasks]
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
