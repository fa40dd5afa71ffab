"""The learning sanity checks (issue 14): can the training loop overfit a handful of tasks?

Before methods are compared, RL alone must raise *training* success on a small fixed task set to a bar;
a loop that cannot is broken, whatever the credit method. Both checks use GRPO (the simplest method: one
advantage per episode) and the comparison's policy (the scorer with a 2-step memory); a fix they prompt
applies to every method alike.

* ``webshop``: from scratch (uniform policy) on the first 16 train goals, 16 goals × group 8 per iteration,
  reward ``env`` (the purchase score as the return). From the uniform start the random agent wins none of
  the 128 episodes of the first iteration (score 0.21), so with the paper's ``won`` reward every group is
  all-zero and GRPO has no signal at all; the score is the dense signal the check needs. Bar: training
  success ≥ 0.5 at the last iteration.
* ``alfworld``: RL alone from a warm start on 8 fixed train games, 8 games × group 8 per iteration, 30-step
  cap, reward ``won`` (10 × won, the paper's). The warm start is the loop's behaviour cloning on the
  walkthroughs of the same 8 games, deliberately under-fitted (40 epochs of one Adam step each), so that
  every game is won sometimes but not always (sampled training success ≈ 0.5). Bar: training success ≥ 0.8
  at the last iteration. Why these 8 games and this start: GRPO (any group method) gets no signal from a
  game whose whole group loses, so RL can only sharpen games the start sometimes wins. With 20 epochs
  (start 0.11, 5 of 8 games never won) RL raised the 3 winnable games to 0.75-1.0 and stalled at 0.30-0.34;
  with the comparison's warm start (60 other games + recovery states), 8 *unseen* train games start at
  0.11 with 6 of 8 never won. Exploration on never-won games is beyond what this check (or the paper's
  setup) tests.

``python -m proxmo_analysis.training.sanity webshop OUT`` runs one check and prints its curve;
``tests/test_learning_sanity.py`` runs both.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

from .config import TrainConfig
from .tasks import task_sample

#: the comparison's policy (benchmarks/compare_methods.py Budget.history)
SANITY_POLICY = {"history": 2}


@dataclass(frozen=True)
class SanityCheck:
    """One check: its training configuration (a function of the output folder) and its bar on the training
    success of the last iteration."""

    name: str
    bar: float
    config: Callable[[str], TrainConfig]


def webshop_config(out: str, seed: int = 0) -> TrainConfig:
    from proxmo_analysis.policy.config import PPOConfig

    return TrainConfig(
        env_id="proxmo/WebShop-v0", method="grpo", reward="env", iterations=20, tasks=16, group_size=8,
        train_tasks=list(range(16)), eval_tasks=0, eval_every=20, seed=seed, out=out,
        policy_config=dict(SANITY_POLICY), ppo=PPOConfig(),
    )


ALFWORLD_GAMES = 8
ALFWORLD_TRAIN_GAMES = 312  # the shipped ALFWorld train split (checked by the test)
#: cross-entropy epochs of the check's warm start (one Adam step each: the 8 walkthroughs are one mini-batch);
#: 40 leaves every game winnable but not won (start ~0.5); 20 left 5 of 8 games never won (see the docstring)
ALFWORLD_BC_EPOCHS = 40


def alfworld_config(out: str, seed: int = 0) -> TrainConfig:
    from proxmo_analysis.policy.config import PPOConfig

    games = task_sample(seed, 0, ALFWORLD_GAMES, ALFWORLD_TRAIN_GAMES)  # = the warm start's games
    return TrainConfig(
        env_id="proxmo/ALFWorld-v0", method="grpo", reward="won", iterations=8, tasks=ALFWORLD_GAMES, group_size=8,
        train_tasks=games, eval_tasks=0, eval_every=8, seed=seed, out=out, max_steps=30,
        warm_start_games=ALFWORLD_GAMES, warm_start_epochs=ALFWORLD_BC_EPOCHS, policy_config=dict(SANITY_POLICY),
        ppo=PPOConfig(lr=3e-3),
    )


CHECKS = {
    "webshop": SanityCheck("webshop", 0.5, webshop_config),
    "alfworld": SanityCheck("alfworld", 0.8, alfworld_config),
}


def run_check(name: str, out: str, on_row=None) -> list[float]:
    """Train check ``name`` into ``out`` and return the training success of iterations 1..N."""
    from .loop import train

    rows = train(CHECKS[name].config(out), on_row=on_row)
    return [float(r["train_success"]) for r in rows if r["iteration"] >= 1]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in CHECKS:
        print(f"usage: python -m proxmo_analysis.training.sanity {{{','.join(CHECKS)}}} OUT", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    check = CHECKS[argv[0]]
    curve = run_check(check.name, argv[1], on_row=lambda r: print(
        f"iteration {r['iteration']:3d}  training success {r.get('train_success', float('nan')):.3f}", flush=True))
    verdict = "PASS" if curve[-1] >= check.bar else "FAIL"
    print(f"{check.name}: training success {curve[0]:.3f} -> {curve[-1]:.3f} (bar {check.bar}): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
