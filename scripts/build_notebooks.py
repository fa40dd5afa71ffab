"""Write the tutorial notebooks in ``notebooks/`` from the cell sources below, and execute them.

This script is the notebooks' source of truth: a change is made here, then the notebooks are rebuilt and
executed, so that readers on the web see their outputs and figures::

    .venv/bin/python scripts/build_notebooks.py --execute      # all three (a few minutes on 2 cores)
    .venv/bin/python scripts/build_notebooks.py --execute 02   # one of them, by name prefix

Each notebook is executed with nbclient in a fresh temporary working directory (its run folders land
there) and written with its outputs and, in ``metadata.proxmo.source_sha256``, the hash of the source it
was executed from. ``tests/test_notebooks.py`` checks that the committed cells equal this script's
(``--check``), that every code cell has run without error, and that the hash matches the current source:
a notebook whose source changed but was not re-executed fails.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# ---------------------------------------------------------------------------------------------------------
ENVIRONMENTS = [
    md("""
# 01 · The environments: WebShop and ALFWorld as the agent sees them

Both benchmarks are Gymnasium environments with text observations and text actions, installed with the
package and playing from embedded data (nothing is downloaded):

* `proxmo/WebShop-v0` — upstream WebShop's text mode on a shipped synthetic catalogue;
* `proxmo/ALFWorld-v0` — the real ALFWorld engine (TextWorld + PDDL) on games shipped in `data/alfworld/`.

This notebook takes a few steps in each, then rolls out one small *task group* (N episodes of the same
task) into a Parquet run folder and opens it with polars. Sizes are set in the first cell.
"""),
    code("""
# Sizes: small, so the whole notebook runs in well under a minute on 2 cores.
WEBSHOP_TASKS = 2      # tasks in the logged rollout
GROUP_SIZE = 4         # N episodes per task (one task group per task)
ALFWORLD_STEPS = 4     # walkthrough steps shown on ALFWorld
SEED = 0
OUT = "runs/notebook-01"  # run folders are written here (relative to the notebook's working directory)
"""),
    code("""
import json
import shutil
import textwrap
from pathlib import Path

import gymnasium as gym
import polars as pl

import proxmo_envs  # noqa: F401  (registers proxmo/WebShop-v0 and proxmo/ALFWorld-v0)

out = Path(OUT)
shutil.rmtree(out, ignore_errors=True)  # this notebook's own folder: start fresh on every run


def show(text: str, width: int = 110) -> None:
    \"\"\"Print an observation wrapped, as the agent reads it.\"\"\"
    for line in text.splitlines() or [""]:
        print(textwrap.fill(line, width) if line else "")
"""),
    md("""
## WebShop

`reset` picks a goal (here `task_index=0` of the `train` split); the observation is the page text with
`[SEP]` between fields, and `info["admissible_actions"]` lists what can be done: `search[<query>]` on the
search page, `click[...]` elsewhere. The reward is the WebShop score in [0, 1], given on `click[buy now]`.
"""),
    code("""
env = gym.make("proxmo/WebShop-v0")
obs, info = env.reset(seed=SEED, options={"task_index": 0})
print("tasks in the split:", env.unwrapped.task_count, "| task id:", info["task_id"], "| type:", info["task_type"])
show(obs)
print("admissible:", info["admissible_actions"])
"""),
    md("""
The scripted expert `WebShopOracle` (it reads the privileged goal in `info`) searches for the product,
opens it, picks the goal's options and buys. Each step below is what the agent sees *before* acting, then
the action taken.
"""),
    code("""
from proxmo_envs.webshop.oracle import WebShopOracle

oracle = WebShopOracle()
done, step = False, 0
while not done:
    action = oracle(obs, info)
    print(f"--- step {step}: page={info['page']!r} -> action {action!r}")
    show(obs[:400] + (" ..." if len(obs) > 400 else ""))
    obs, reward, terminated, truncated, info = env.step(action)
    done, step = terminated or truncated, step + 1
print(f"\\nreward {reward:.3f}, won={info['won']}, task_score={info['task_score']:.3f} after {step} steps")
env.close()
"""),
    md("""
## ALFWorld

A household task in a text room. The admissible commands come from the engine; `info["walkthrough"]`
holds the expert plan shipped with the game. Reward is 1.0 on the step that completes the task.
"""),
    code("""
alf = gym.make("proxmo/ALFWorld-v0")
obs, info = alf.reset(seed=SEED, options={"task_index": 0})
print("games in the split:", alf.unwrapped.task_count, "| task id:", info["task_id"], "| type:", info["task_type"])
show(obs)
print("\\nfirst admissible commands:", info["admissible_actions"][:8], "...")
print("walkthrough:", info["walkthrough"])
"""),
    code("""
for action in info["walkthrough"][:ALFWORLD_STEPS]:
    obs, reward, terminated, truncated, info = alf.step(action)
    print(f"> {action}")
    show(obs)
    print(f"  reward={reward}, won={info['won']}, invalid={info['invalid_action']}")
alf.close()
"""),
    md("""
## A group rollout, logged to Parquet

`proxmo_envs.rollout.rollout` runs `GROUP_SIZE` episodes of each task with a policy — here the built-in
`random` policy (uniform over admissible actions; WebShop searches use words of the instruction) — and
writes a crash-safe run folder: `manifest.json` plus `part-*.parquet`, one row per step.
"""),
    code("""
from proxmo_envs.rollout import rollout

summary = rollout("proxmo/WebShop-v0", {}, "random", WEBSHOP_TASKS, GROUP_SIZE, out / "webshop-random", seed=SEED)
for label, value in summary.rows():
    print(f"{label:>24}: {value}")
print(sorted(p.name for p in (out / "webshop-random").iterdir()))
"""),
    md("""
Any Parquet reader opens the run; `proxmo_analysis.read_log` also validates it against the schema
(required columns and types, no gaps in `step`, one `group_id` per episode).
"""),
    code("""
from proxmo_analysis import read_log

raw = pl.read_parquet(out / "webshop-random" / "part-*.parquet")   # plain polars
df = read_log(out / "webshop-random")                               # validated
assert raw.height == df.height
print(df.schema)
df.select("group_id", "rollout_index", "step", "action", "reward", "invalid_action", "won", "task_score").head(8)
"""),
    code("""
# one row per task group: N trajectories of one task
episodes = df.group_by("group_id", "episode_id", maintain_order=True).agg(
    pl.col("task_id").first(), pl.col("won").first(), pl.col("task_score").last(), pl.len().alias("steps"))
episodes.group_by("group_id", "task_id", maintain_order=True).agg(
    pl.len().alias("episodes"), pl.col("won").mean().alias("success"), pl.col("task_score").mean().alias("mean_score"),
    pl.col("steps").mean().alias("mean_length"))
"""),
    code("""
manifest = json.loads((out / "webshop-random" / "manifest.json").read_text())
print(json.dumps({k: manifest[k] for k in ("env_id", "group_size", "seed", "policy") if k in manifest}, indent=1))
"""),
]

# ---------------------------------------------------------------------------------------------------------
CREDIT = [
    md("""
# 02 · Credit assignment: one run re-scored with GRPO, RLOO, GiGPO and ProxMO

We roll out a small ALFWorld run with a *noisy expert* (it follows the game's walkthrough but takes a
random admissible action with probability `EPS` at each step), so task groups mix wins and losses and
trajectories revisit similar — but rarely identical — states. Then the same log is scored offline by every
method with `proxmo_analysis.score`, and we look at what differs:

* ProxMO's episode-level PSC weight `w(R, p)` against the group success rate `p`;
* for one task group, PSA's state-similarity weights next to GiGPO's exact-match anchor groups, and the
  share of rows GiGPO leaves alone in a singleton group (step advantage 0);
* advantages along one trajectory under each method, and the rows where the methods disagree most.
"""),
    code("""
# Sizes: small, so the notebook runs in about a minute on 2 cores. Set RUN to an existing run folder to
# analyse your own log instead of rolling one out.
TASKS = 3          # ALFWorld games
GROUP_SIZE = 6     # N trajectories per game (the task group)
MAX_STEPS = 15     # step cap per episode
EPS = 0.4          # noisy expert: probability of a random action at each step
SEED = 0
RUN = None         # e.g. "runs/my-run"; None: roll out below
OUT = "runs/notebook-02"
METHODS = ["grpo", "rloo", "gigpo", "proxmo"]
"""),
    code("""
%matplotlib inline
import shutil
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

from proxmo_analysis import read_log, score
from proxmo_analysis.credit import ProxMOConfig, psc_weights
from proxmo_analysis import plots

_ = pl.Config.set_fmt_str_lengths(60), pl.Config.set_tbl_rows(12)
"""),
    md("""
## A small run with mixed outcomes

A rollout policy is any callable `(observation, info) -> action`; `reset(seed)` is called before each
episode with a seed derived from the run seed, so the run is reproducible. The built-in
`NoisyWalkthroughPolicy` follows ALFWorld's walkthrough but takes a random admissible action with
probability `eps`, which gives groups with both successes and failures.
"""),
    code("""
from proxmo_envs.rollout import NoisyWalkthroughPolicy

if RUN is None:
    from proxmo_envs.rollout import rollout

    RUN = Path(OUT) / "alfworld-noisy"
    shutil.rmtree(RUN, ignore_errors=True)
    summary = rollout("proxmo/ALFWorld-v0", {"max_steps": MAX_STEPS}, NoisyWalkthroughPolicy(EPS), TASKS, GROUP_SIZE, RUN,
                      seed=SEED)
    print(f"{summary.episodes} episodes, success rate {summary.success_rate:.2f}, mean length {summary.mean_length:.1f}")
df = read_log(RUN)
episodes = df.group_by("group_id", "episode_id", maintain_order=True).agg(
    pl.col("task_type").first(), pl.col("won").first(), pl.len().alias("steps"))
groups = episodes.group_by("group_id", maintain_order=True).agg(
    pl.col("task_type").first(), pl.len().alias("N"), pl.col("steps").sum().alias("rows"), pl.col("won").mean().alias("p"))
groups
"""),
    md("""
## Re-scoring with every method

`score(df, method, **config)` adds `return_to_go`, `adv_episode`, `adv_step` and `advantage` and never
touches the logged columns. Paper defaults throughout (`variant="paper"`); `variant="reference"` gives the
released ProxMO code instead (see docs/credit.md).
"""),
    code("""
scored = {m: score(df, m) for m in METHODS}
(pl.DataFrame({"method": METHODS})
   .with_columns(
       pl.Series("mean |A|", [float(scored[m]["advantage"].abs().mean()) for m in METHODS]),
       pl.Series("std A", [float(scored[m]["advantage"].std()) for m in METHODS]),
       pl.Series("rows with A_step != 0", [float((scored[m]["adv_step"] != 0).mean()) for m in METHODS]),
   ))
"""),
    md("""
## Episode level: ProxMO's PSC weight

ProxMO multiplies GRPO's episode advantage by `w(R, p) = 1 + β·f(R, p)`: a success in a group that
mostly fails is amplified, a failure in a group that mostly succeeds is damped (α = 4, β = 0.1 here).
"""),
    code("""
cfg = ProxMOConfig()
plots.psc_weight_figure(alpha=cfg.alpha, beta=cfg.beta, group_size=GROUP_SIZE)
"""),
    md("""
In this run: the weight each group's successes and failures receive, and the check that ProxMO's episode
part is exactly GRPO's (population std) times that weight.
"""),
    code("""
per_group = groups.select("group_id", "p").with_columns(
    pl.Series("w(success)", psc_weights(np.ones(groups.height, bool), groups["p"].to_numpy(), cfg.alpha, cfg.beta)),
    pl.Series("w(failure)", psc_weights(np.zeros(groups.height, bool), groups["p"].to_numpy(), cfg.alpha, cfg.beta)),
)
ratio = (scored["proxmo"]["adv_episode"] / scored["grpo"]["adv_episode"]).to_numpy()
mixed = np.isfinite(ratio) & (scored["grpo"]["adv_episode"].abs().to_numpy() > 1e-3)
if mixed.any():
    print(f"proxmo A_E / grpo A_E over {mixed.sum()} rows of mixed groups: "
          f"min {ratio[mixed].min():.4f}, max {ratio[mixed].max():.4f}")
else:
    print("no group mixes wins and losses: every episode advantage is 0")
per_group
"""),
    md("""
## Step level: PSA's soft neighbourhoods versus GiGPO's exact matches

For one task group (the one with the most rows), the cosine similarity of the states (TF-IDF), ProxMO's
PSA weights `w_ij` (softmax of similarity / τ over the rows at the same step), and GiGPO's step groups
(rows with *identical* observation text). Rows are ordered by step, then trajectory. The matrices come
from the public PSA kernel, so `R - W @ R` is exactly the logged `adv_step`.
"""),
    code("""
gid = groups.sort("rows", descending=True)["group_id"][0]
m = plots.psa_group_matrices(df, gid)
rtg = scored["proxmo"]["return_to_go"].to_numpy()[m.row_index]
print("max |(R - W R) - adv_step| =", float(np.abs(rtg - m.weights @ rtg - scored["proxmo"]["adv_step"].to_numpy()[m.row_index]).max()))
plots.psa_figure(m)
"""),
    code("""
# the same group with the released code's candidates: every row of the group, at any step
plots.psa_figure(plots.psa_group_matrices(df, gid, candidates="all_steps"))
"""),
    md("""
**Singleton share**: GiGPO gives a step advantage only to rows whose exact state recurs in the group; the
rest are singletons with `A_step = 0`. PSA gives every row a soft baseline.
"""),
    code("""
shares = [plots.psa_group_matrices(df, g) for g in groups["group_id"]]
(groups.select("group_id", "task_type", "rows", "p")
   .with_columns(pl.Series("distinct states", [len(set(x.observation)) for x in shares]),
                 pl.Series("GiGPO singleton share", [x.singleton_share for x in shares])))
"""),
    md("""
**The temperature τ** interpolates between the two: with the reference's `all_steps` candidates, τ → ∞
gives the group mean of `R_t` as baseline, and τ → 0 pools the rows whose state *vectors* coincide. That is
coarser than GiGPO's identical *text*: scikit-learn's default tokeniser (which the paper and the released
code use) drops one-character tokens, so "cabinet 1" and "cabinet 3" are the same state to PSA. The table
measures how far PSA at each τ is from GiGPO w/o std; the pairs below are where τ → 0 still differs.
"""),
    code("""
gigpo_step = score(df, "gigpo", normalize_std=False)["adv_step"].to_numpy()
rows = []
for tau in (1e-4, 0.03, 0.1, 0.3, 1.0, 100.0):
    psa_step = score(df, "proxmo", tau=tau, candidates="all_steps")["adv_step"].to_numpy()
    rows.append({"tau": tau, "max |PSA - GiGPO w/o std|": float(np.abs(psa_step - gigpo_step).max()),
                 "corr with GiGPO": float(np.corrcoef(psa_step, gigpo_step)[0, 1]),
                 "rows with A_step != 0": float((np.abs(psa_step) > 1e-6).mean())})
display(pl.DataFrame(rows))
pairs = np.argwhere((m.similarity > 1 - 1e-9) & ~m.exact_match)  # same vector, different text
for i, j in pairs[:1]:
    print(f"cosine {m.similarity[i, j]:.6f} between two different texts:")
    print(f"  {m.observation[i][-90:]!r}\\n  {m.observation[j][-90:]!r}")
"""),
    md("""
## Advantages along one trajectory

A won trajectory of the group above, under each method: the total advantage and its step part.
"""),
    code("""
wins = df.filter((pl.col("group_id") == gid) & pl.col("won"))
episode = (wins if wins.height else df.filter(pl.col("group_id") == gid))["episode_id"][0]
plots.advantage_trajectory_figure(scored, episode)
"""),
    md("""
## Where the methods disagree most

Per step row, the spread (max − min) of the advantage across methods; the rows at the top, with the
state the agent saw and the action it took. Scales differ by design: GiGPO (w/ std) divides each exact-match
step group by its std, so on a small group its step part can be large; PSA's soft baseline is not divided.
"""),
    code("""
wide = df.select("group_id", "rollout_index", "step", "observation", "action", "won").with_columns(
    [scored[m]["advantage"].alias(m) for m in METHODS])
wide = wide.with_columns((pl.max_horizontal(METHODS) - pl.min_horizontal(METHODS)).alias("spread"))
top = wide.sort("spread", descending=True).head(5)
top.select("group_id", "rollout_index", "step", "action", "won", *METHODS, "spread")
"""),
    code("""
for row in top.iter_rows(named=True):
    adv = ", ".join(f"{m} {row[m]:+.2f}" for m in METHODS)
    print(f"=== group {row['group_id'][:40]} · trajectory {row['rollout_index']} · step {row['step']} "
          f"({'won' if row['won'] else 'lost'}) -> {row['action']!r}\\n    {adv}")
    state = row["observation"]
    print(textwrap.indent(textwrap.fill(state[-300:], 100), "    "))
"""),
]

# ---------------------------------------------------------------------------------------------------------
TRAINING = [
    md("""
# 03 · Training: the method comparison, and a short run of our own

`benchmarks/compare_methods.py` trains the same policy with each credit method — same budget, same seeds,
same training tasks each iteration, one shared start per seed — and commits its result to
`benchmarks/results/compare_methods.json`: per environment the budget, each method's held-out success and
score with 95 % confidence intervals, and paired differences between methods with a verdict. This notebook
reads that file (it never re-runs the benchmark), then trains a few iterations live so you can see the loop.
"""),
    code("""
# Sizes and places. RESULTS is the committed comparison (the PROXMO_COMPARE_RESULTS environment variable
# overrides it). The live run at the end is small: ~1-2 minutes on 2 cores.
import os
from pathlib import Path

import proxmo_envs._paths

REPO = proxmo_envs._paths.data_root().parent
RESULTS = Path(os.environ.get("PROXMO_COMPARE_RESULTS", REPO / "benchmarks" / "results" / "compare_methods.json"))

ENV_ID = "proxmo/WebShop-v0"   # the live run
METHODS = ["grpo", "proxmo"]
ITERATIONS = 4
TASKS = 4            # training tasks per iteration
GROUP_SIZE = 4       # N
EVAL_TASKS = 20      # held-out tasks per evaluation
OUT = "runs/notebook-03"
"""),
    code("""
%matplotlib inline
import json
import shutil

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from proxmo_analysis import plots

if not RESULTS.is_file():
    raise FileNotFoundError(f"{RESULTS} is missing: it is written by `python benchmarks/compare_methods.py` "
                            "and committed with the repository")
results = json.loads(RESULTS.read_text())
envs = {name: body for name, body in results.items() if isinstance(body, dict) and "methods" in body}
for name, body in results.items():
    if isinstance(body, dict) and "methods" not in body:
        print(f"{name}: no table ({json.dumps(body)})")  # e.g. a comparison that has not finished
if not envs:
    raise ValueError(f"{RESULTS}: no environment with a 'methods' table")
print(f"{RESULTS.name}: {', '.join(envs)}")
"""),
    md("""
## The budget

What each environment's comparison ran: seeds, training reward, training episodes per run, held-out tasks,
and the shared start every method of a seed branched from.
"""),
    code("""
budget_keys = ("seeds", "reward", "episodes_per_run", "eval_tasks", "start")
pl.DataFrame([{"env": env, **{k: json.dumps(body[k]) if isinstance(body.get(k), (dict, list)) else body.get(k)
                              for k in budget_keys}} for env, body in envs.items()])
"""),
    md("""
## Held-out success and score per method

Mean over seeds with a 95 % confidence interval.
"""),
    code("""
def ci(v):
    return (float(v[0]), float(v[1])) if v is not None else (float("nan"), float("nan"))


rows = []
for env, body in envs.items():
    for method, m in body["methods"].items():
        (s_lo, s_hi), (c_lo, c_hi) = ci(m.get("success_ci")), ci(m.get("score_ci"))
        rows.append({"env": env, "method": method, "success": m.get("success_mean"), "success_lo": s_lo,
                     "success_hi": s_hi, "score": m.get("score_mean"), "score_lo": c_lo, "score_hi": c_hi})
table = pl.DataFrame(rows)
table
"""),
    code("""
fig, axes = plt.subplots(1, len(envs), figsize=(6.0 * len(envs), 4.0), squeeze=False, layout="constrained")
for ax, (env, part) in zip(axes[0], table.group_by("env", maintain_order=True)):
    env = env[0]
    xs = np.arange(part.height)
    mean = part["success"].to_numpy().astype(float)
    err = np.vstack([mean - part["success_lo"].to_numpy(), part["success_hi"].to_numpy() - mean])
    ax.bar(xs, mean, yerr=np.abs(err), capsize=4, color=[f"C{k % 10}" for k in range(part.height)])
    ax.set_xticks(xs, part["method"].to_list(), rotation=20, ha="right")
    ax.set_ylabel("held-out success")
    ax.set_title(f"{env}: held-out success (95 % CI)")
    ax.grid(alpha=0.3, axis="y")
plt.show()
"""),
    md("""
## Paired differences

Each pair of methods compared on the same seeds and the same evaluation tasks: the difference in held-out
success with its 95 % confidence interval, and the verdict — a difference is only *supported* (or
*contradicted*) when its interval excludes zero; otherwise it is *undecided*.
"""),
    code("""
pairs = pl.DataFrame([{"env": env, "a": p["a"], "b": p["b"], "success_diff": p.get("success_diff"),
                       "ci_lo": ci(p.get("success_diff_ci"))[0], "ci_hi": ci(p.get("success_diff_ci"))[1],
                       "verdict": p.get("verdict")}
                      for env, body in envs.items() for p in body.get("pairs", [])])
pairs
"""),
    code("""
for env, body in envs.items():
    if "group_sizes" in body:
        print(f"{env}: group sizes")
        print(json.dumps(body["group_sizes"], indent=1))
"""),
    md("""
## A short live run

The same loop on a small budget: each method trains from the same untrained policy with the same seed, so
the training tasks of each iteration are the same and only the advantages differ. A few iterations of a
small budget say little about the methods (that is what the comparison above is for); they show the loop
and what `proxmo train` writes.
"""),
    code("""
from proxmo_analysis.train import TrainConfig, train

shutil.rmtree(OUT, ignore_errors=True)
for method in METHODS:
    train(TrainConfig(env_id=ENV_ID, method=method, iterations=ITERATIONS, tasks=TASKS, group_size=GROUP_SIZE,
                      eval_every=ITERATIONS, eval_tasks=EVAL_TASKS, seed=0, policy_config={"encoder": "hashed"},
                      out=f"{OUT}/{method}"))
metrics = plots.read_training_runs(*plots.find_training_runs(OUT))
metrics.select("method", "iteration", "train_success", "train_score", "eval_success", "eval_score", "iteration_s")
"""),
    code("""
plots.learning_curve_figure(metrics, ("train_score", "eval_score"), title=f"{ENV_ID}: a short live run")
"""),
]

NOTEBOOKS = {
    "01_environments.ipynb": ENVIRONMENTS,
    "02_credit_assignment.ipynb": CREDIT,
    "03_training.ipynb": TRAINING,
}


def build(name: str):
    """The notebook ``name`` as an nbformat object: no outputs, execution counts null."""
    nb = new_notebook(cells=copy.deepcopy(NOTEBOOKS[name]))  # a copy: executing fills cells in place
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for k, cell in enumerate(nb.cells):
        cell.id = f"{Path(name).stem[:2]}-{k:02d}"  # stable ids, so rebuilding gives identical files
    return nb


def render(name: str) -> str:
    """The notebook's text without outputs: what ``source_sha256`` hashes and ``--check`` compares."""
    return nbformat.writes(build(name)) + "\n"


def source_sha256(name: str) -> str:
    return hashlib.sha256(render(name).encode()).hexdigest()


def stripped(nb) -> str:
    """A (possibly executed) notebook's text with outputs, execution counts and our metadata removed."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata = {}
    nb.metadata.pop("proxmo", None)
    nb.metadata["language_info"] = {"name": "python"}  # the kernel adds its version; not part of the source
    return nbformat.writes(nb) + "\n"


def execute(name: str, timeout: int = 600):
    """Build ``name`` and run it top to bottom in a temporary working directory; returns the executed notebook."""
    from nbclient import NotebookClient

    nb = build(name)
    # No progress bars in the stored outputs (tqdm widgets would be saved as widget state, not text).
    os.environ["TQDM_DISABLE"] = "1"
    with tempfile.TemporaryDirectory(prefix="proxmo-notebook-") as cwd:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["proxmo"] = {"source_sha256": source_sha256(name)}
    for cell in nb.cells:
        cell.metadata = {}  # nbclient's execution timestamps would change the file on every run
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook's cells differ from this script")
    parser.add_argument("--execute", nargs="*", metavar="NAME",
                        help="build and execute these notebooks (name prefixes; none: all) and write them with outputs")
    args = parser.parse_args(argv)
    NOTEBOOK_DIR.mkdir(exist_ok=True)
    if args.check:
        stale = [name for name in NOTEBOOKS if not (NOTEBOOK_DIR / name).is_file()
                 or stripped(nbformat.read(NOTEBOOK_DIR / name, as_version=4)) != render(name)]
        if stale:
            print(f"out of date (rebuild with scripts/build_notebooks.py --execute): {', '.join(stale)}",
                  file=sys.stderr)
            return 1
        return 0
    if args.execute is None:
        parser.error("give --execute [NAME...] (build and run) or --check")
    names = [n for n in NOTEBOOKS if not args.execute or any(n.startswith(p) for p in args.execute)]
    if not names:
        parser.error(f"no notebook matches {args.execute}; notebooks: {', '.join(NOTEBOOKS)}")
    for name in names:
        print(f"executing {name} ...", file=sys.stderr, flush=True)
        nbformat.write(execute(name), NOTEBOOK_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
