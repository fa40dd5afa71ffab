"""Every trainer adapter, driven by scripted replies, reproduces proxmo's own runner on the same tasks.

The runner plays 50 WebShop test goals with the oracle and 6 ALFWorld eval_unseen games (one per task
type) with their walkthroughs; each adapter then gets the logged actions back as model replies
(``<think>..</think><action>a</action>``; every fifth episode opens with an unparsable reply, the env's
invalid-action step, which changes nothing) and must end every episode with the runner's won and score.
"""

from __future__ import annotations

import asyncio
import contextlib

import polars as pl
import pytest

from proxmo_analysis.logs import read_log
from proxmo_envs.integrations.session import TextSession
from proxmo_envs.rollout import rollout
from proxmo_envs.text import INVALID_ACTION, strip, unrender

pytestmark = pytest.mark.slow

CASES = {
    "webshop": ("proxmo/WebShop-v0", "test", "oracle", 50),
    "alfworld": ("proxmo/ALFWorld-v0", "eval_unseen", "walkthrough", 6),
}
GARBAGE = "Let me think about what to do here."


@pytest.fixture(scope="module", params=sorted(CASES))
def reference(request, tmp_path_factory):
    """(name, env_id, split, {task_index: (actions, won, score)}) from proxmo's runner."""
    env_id, split, policy, n = CASES[request.param]
    out = tmp_path_factory.mktemp(f"runner-{request.param}") / "run"
    rollout(env_id, {"split": split}, policy, tasks=n, group_size=1, out=out, seed=0)
    log = read_log(out).sort("episode_id", "step")
    session = TextSession(env_id, split=split)
    index_of = {tid: i for i, tid in enumerate(session.env.task_ids)}
    session.close()
    episodes = {}
    for (task_id,), rows in log.group_by("task_id", maintain_order=True):
        rows = rows.sort("step")
        episodes[index_of[task_id]] = (rows["action"].to_list(), bool(rows["won"][-1]),
                                       float(rows["task_score"][-1]))
    episodes = dict(sorted(episodes.items()))
    assert list(episodes) == list(range(n))
    # the oracle and the walkthroughs solve these tasks: the comparison is not a run of zeros
    assert sum(won for _, won, _ in episodes.values()) >= (n * 3) // 4
    return request.param, env_id, split, episodes


def replies(task_index: int, actions: list[str]) -> list[str]:
    head = [GARBAGE] if task_index % 5 == 0 else []
    return head + [f"<think>step {k}</think>\n<action>{a}</action>" for k, a in enumerate(actions)]


def assert_same(reference, outcomes: dict[int, tuple[bool, float]]) -> None:
    _, _, _, episodes = reference
    assert sorted(outcomes) == sorted(episodes)
    for i, (_, won, score) in episodes.items():
        assert outcomes[i][0] == won, f"task {i}: won"
        assert outcomes[i][1] == pytest.approx(score, abs=1e-6), f"task {i}: score"


def test_text_session(reference):
    name, env_id, split, episodes = reference
    session = TextSession(env_id, split=split)
    outcomes = {}
    for i, (actions, _, _) in episodes.items():
        prompt = session.reset(i)
        for reply in replies(i, actions):
            assert strip(prompt) == session.observation
            turn = session.step(reply)
            if reply == GARBAGE:
                assert turn.action == INVALID_ACTION and not turn.parsed and turn.info["invalid_action"]
            prompt = turn.prompt
            if turn.done:
                break
        assert session.done
        assert unrender(session.prompt()).step == session.steps
        outcomes[i] = (session.won, session.task_score)
    assert_same(reference, outcomes)
    with pytest.raises(RuntimeError, match="episode is over"):
        session.step("<action>look</action>")


def test_skyrl_gym(reference, tmp_path):
    skyrl_gym = pytest.importorskip("skyrl_gym")
    import proxmo_envs.integrations.skyrl as sk

    name, env_id, split, episodes = reference
    env_class = f"proxmo-{name}"
    assert env_class in skyrl_gym.envs.registration.registry
    outcomes = {}
    for i, (actions, won, score) in episodes.items():
        env = skyrl_gym.make(env_class, env_config={"split": split},
                             extras={"extra_info": {"task_index": i}, "max_turns": 99})
        conversation, meta = env.init([{"role": "system", "content": "sys"}, {"role": "user", "content": "x"}])
        assert conversation[0] == {"role": "system", "content": "sys"} and meta["task_index"] == i
        assert strip(conversation[-1]["content"]) == env.session.observation
        rewards = []
        for reply in replies(i, actions):
            out = env.step(reply)
            rewards.append(out["reward"])
            assert out["metadata"]["invalid_action"] is (reply == GARBAGE)
            if out["done"]:
                assert out["observations"] == []
                break
            assert strip(out["observations"][0]["content"]) == env.session.observation
        assert out["done"] and out["metadata"]["won"] == won
        assert rewards[:-1] == [0.0] * (len(rewards) - 1) and rewards[-1] == pytest.approx(score, abs=1e-6)
        outcomes[i] = (out["metadata"]["won"], out["metadata"]["task_score"])
        assert env.get_metrics()["steps"] == len(rewards)
        env.close()
    assert_same(reference, outcomes)
    rows = sk.dataset_rows(env_class, split, tasks=3)
    assert [r["extra_info"]["task_index"] for r in rows] == [0, 1, 2]
    assert rows[0]["env_class"] == env_class and rows[0]["prompt"][-1]["role"] == "user"
    import pyarrow.parquet as pq

    written = pq.read_table(sk.write_dataset(tmp_path / "data" / "train.parquet", env_class, split, tasks=3,
                                             system_prompt="sys")).to_pylist()
    assert [r["extra_info"]["task_index"] for r in written] == [0, 1, 2]
    assert written[2]["prompt"][0] == {"role": "system", "content": "sys"} and written[2]["env_class"] == env_class


def test_trl_environment(reference):
    pytest.importorskip("trl")
    from proxmo_envs.integrations.trl import dataset_rows, environment_factory

    name, env_id, split, episodes = reference
    cls = environment_factory(name, split=split)
    env = cls()
    outcomes = {}
    for i, (actions, won, _) in episodes.items():
        first = env.reset(prompt=[{"role": "user", "content": ""}], task_index=i)
        assert 'calling the act tool' in first and strip(first) == env._session.observation
        head = [""] if i % 5 == 0 else []  # an empty tool argument: the invalid-action step
        for action in head + actions:
            result = env.act(action)
            if result.startswith("The episode is over"):
                break
            assert strip(result) == env._session.observation
        assert f"won={won}" in result
        assert env.act("look") == result  # nothing is stepped once the episode is over
        outcomes[i] = (env.metadata["won"], env.get_reward())
    assert_same(reference, outcomes)
    ten = environment_factory(name, split=split, reward="won")()
    i = next(i for i, (_, won, _) in episodes.items() if won)
    ten.reset(task_index=i)
    for action in episodes[i][0]:
        ten.act(action)
    assert ten.get_reward() == 10.0
    rows = dataset_rows(name, tasks=2, split=split)
    assert rows == [{"prompt": [{"role": "user", "content": ""}], "task_index": 0},
                    {"prompt": [{"role": "user", "content": ""}], "task_index": 1}]


class _Segment:
    def __init__(self, reply: str | None):
        self.terminated = reply is None
        self.last_reply = reply or ""


class _Trace:
    def __init__(self):
        self.rewards, self.metrics, self.info = {}, {}, {}

    def record_reward(self, name, value, weight=1.0):
        self.rewards[name] = (value, weight)

    def record_metrics(self, values):
        self.metrics.update(values)


class _ScriptedPlayer:
    """Stands in for a verifiers agent: answers each user turn with the next scripted reply."""

    def __init__(self, script: list[str]):
        self.script, self.prompts, self.trace = list(script), [], _Trace()

    @contextlib.asynccontextmanager
    async def interaction(self, task):
        assert task.data.prompt is None  # the env opens the exchange with its first prompt
        yield self

    async def turn(self, message=None):
        self.prompts.append(message)
        return _Segment(self.script.pop(0) if self.script else None)


def test_verifiers_taskset_and_env(reference):
    pytest.importorskip("verifiers")
    from verifiers.v1.utils.loaders import environment_class, taskset_class

    from proxmo_envs.integrations.verifiers import ProxmoEnv, ProxmoEnvConfig

    name, env_id, split, episodes = reference
    taskset_id = f"proxmo-{name}"
    # loaded the way verifiers loads a taskset id: by importing the module of that name
    assert taskset_class(taskset_id).ENV_ID == env_id
    assert environment_class(taskset_id) is ProxmoEnv
    env = ProxmoEnv(ProxmoEnvConfig(taskset={"id": taskset_id, "split": split, "tasks": len(episodes)}))
    tasks = list(env.taskset)
    assert [t.data.info["task_index"] for t in tasks] == list(episodes)
    outcomes = {}
    for task in tasks:
        i = task.data.info["task_index"]
        player = _ScriptedPlayer(replies(i, episodes[i][0]))
        agents = type("Agents", (), {"player": player})()
        asyncio.run(env.run(task, agents))
        assert all(strip(p) for p in player.prompts)
        won = player.trace.metrics["won"] == 1.0
        outcomes[i] = (won, player.trace.rewards["task_score"][0])
        assert player.trace.metrics["invalid_actions"] == (1.0 if i % 5 == 0 else 0.0)
    assert_same(reference, outcomes)


def test_gem_env(reference):
    gem = pytest.importorskip("gem")
    import proxmo_envs.integrations.gem  # noqa: F401

    name, env_id, split, episodes = reference
    env = gem.make({"webshop": "proxmo:WebShop-v0", "alfworld": "proxmo:ALFWorld-v0"}[name], split=split)
    outcomes = {}
    for i, (actions, won, score) in episodes.items():
        prompt, info = env.reset(task_index=i)
        assert strip(prompt) == env.session.observation and info["task_index" if name == "webshop" else "game_index"] == i
        total = 0.0
        for reply in replies(i, actions):
            prompt, reward, terminated, truncated, info = env.step(reply)
            total += reward
            assert info["parsed"] is (reply != GARBAGE)
            if terminated or truncated:
                break
        outcomes[i] = (info["won"], total)
    assert_same(reference, outcomes)


def test_bad_adapter_input_is_one_clear_error():
    pytest.importorskip("skyrl_gym")
    import skyrl_gym

    import proxmo_envs.integrations.skyrl  # noqa: F401

    with pytest.raises(ValueError, match=r"extras\['extra_info'\]\['task_index'\] must be an int"):
        skyrl_gym.make("proxmo-webshop", env_config={"split": "test"}, extras={"extra_info": {}})
    with pytest.raises(ValueError, match="reward must be one of"):
        TextSession("webshop", reward="dollars", split="test")
    with pytest.raises(ValueError, match="RenderConfig.history_length"):
        skyrl_gym.make("proxmo-webshop", env_config={"split": "test", "history_length": -2},
                       extras={"extra_info": {"task_index": 0}})
    session = TextSession("webshop", split="test")
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        session.step("<action>click[buy now]</action>")
    assert pl.__version__  # polars is what read_log returns; keep the import honest
