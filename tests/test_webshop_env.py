"""proxmo/WebShop-v0 as a Gymnasium env: checker, determinism (also across processes), vector envs,
shared data, bad input, fuzzing, the scripted oracle and a random agent on the embedded catalogue."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import proxmo_envs  # noqa: F401
from proxmo_envs.webshop.oracle import WebShopOracle

ID = "proxmo/WebShop-v0"


@pytest.fixture(scope="module", autouse=True)
def isolated_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROXMO_CACHE", str(tmp_path_factory.mktemp("proxmo_cache")))
        yield


def make(**kw):
    kw.setdefault("noun_extractor", "words")
    return gym.make(ID, **kw)


def run_episode(env, policy, seed=None, options=None):
    obs, info = env.reset(seed=seed, options=options)
    trace = [(obs, json.dumps(info, sort_keys=True))]
    reward = 0.0
    for _ in range(100):
        obs, reward, term, trunc, info = env.step(policy(obs, info))
        trace.append((obs, reward, term, trunc, json.dumps(info, sort_keys=True)))
        if term or trunc:
            break
    return trace, reward, info


def test_check_env_passes():
    check_env(make().unwrapped, skip_render_check=True)


def test_registration_without_import_and_spaces():
    env = gym.make("proxmo_envs:proxmo/WebShop-v0", noun_extractor="words")
    assert isinstance(env.observation_space, gym.spaces.Text) and isinstance(env.action_space, gym.spaces.Text)
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    for key in ("available_actions", "admissible_actions", "invalid_action", "won", "task_score", "task_id", "task_type", "goal"):
        assert key in info
    assert set(info["goal"]) >= {"asin", "name", "instruction_text", "attributes", "goal_options", "price_upper", "query", "category"}


def test_splits_task_ids_and_goal_index():
    train, test = make(split="train").unwrapped, make(split="test").unwrapped
    assert test.task_count == 199 and train.task_count == 4799 - 199  # embedded: 4,799 synthetic goals
    assert len(set(train.task_ids) | set(test.task_ids)) == 4799 and all(isinstance(t, str) for t in test.task_ids)
    obs, info = test.reset(options={"goal_index": 7})
    assert info["task_id"] == test.task_ids[7] and info["goal"]["instruction_text"] in obs
    assert test.reset(options={"task_index": 7})[1]["task_id"] == test.task_ids[7]
    human = make(goals="human", split="all").unwrapped
    assert human.task_count == 366 and all(isinstance(g.goal_options, tuple) for g in human.goals)


def test_same_seed_same_episode_and_seeded_task_choice():
    env = make().unwrapped
    rng_policy = lambda seed: (lambda obs, info, r=np.random.default_rng(seed): info["admissible_actions"][  # noqa: E731
        int(r.integers(len(info["admissible_actions"])))].replace("<query>", "red shoes"))
    a = run_episode(env, rng_policy(3), seed=11)
    b = run_episode(env, rng_policy(3), seed=11)
    assert a == b
    ids = {env.reset(seed=s)[1]["task_id"] for s in range(20)}
    assert len(ids) > 10
    assert env.reset(seed=5)[1]["task_id"] == env.reset(seed=5)[1]["task_id"]


_CHILD = r"""
import json, sys, gymnasium as gym, proxmo_envs
from proxmo_envs.webshop.oracle import WebShopOracle
env = gym.make("proxmo/WebShop-v0", noun_extractor="words")
out = []
orc = WebShopOracle()
for seed in (0, 1, 2):
    obs, info = env.reset(seed=seed)
    out.append([obs, info])
    for _ in range(15):
        obs, r, te, tr, info = env.step(orc(obs, info))
        out.append([obs, r, te, tr, info])
        if te or tr:
            break
    obs, info = env.reset(seed=seed)
    obs, r, te, tr, info = env.step("search[blue shirt cotton]")
    out.append([obs, info])
sys.stdout.write(json.dumps(out, sort_keys=True))
"""


def test_identical_across_processes_with_different_hash_seeds(tmp_path):
    outs = []
    for hash_seed in ("1", "987654"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PROXMO_CACHE=str(tmp_path))
        res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(res.stdout)
    assert outs[0] == outs[1] and len(outs[0]) > 1000


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec(mode):
    envs = gym.make_vec(ID, num_envs=2, vectorization_mode=mode, noun_extractor="words")
    try:
        obs, infos = envs.reset(seed=[3, 4])
        assert len(obs) == 2 and all(o.startswith("WebShop [SEP] Instruction:") for o in obs)
        obs, rew, term, trunc, infos = envs.step(["search[cotton t-shirt]", "click[search]"])
        assert obs[0].startswith("Instruction:") and obs[1].startswith("WebShop")
        assert list(infos["invalid_action"]) == [False, True]
        assert rew.tolist() == [0.0, 0.0]
    finally:
        envs.close()


def test_second_env_shares_data_and_is_cheap():
    # Cheap because shared: the second env reuses the first one's catalogue and index objects (the
    # benchmark reports the time, ~1 ms; tests do not assert timings).
    a = make().unwrapped
    b = make().unwrapped
    assert a._tasks is b._tasks and a._tasks.catalog.index is b._tasks.catalog.index


def test_index_cache_written_only_when_env_built(tmp_path):
    code = ("import os, proxmo_envs, proxmo_envs.webshop, proxmo_envs.webshop.env; "
            "print(len(os.listdir(os.environ['PROXMO_CACHE'])) if os.path.isdir(os.environ['PROXMO_CACHE']) else 0)")
    res = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PROXMO_CACHE=str(tmp_path / "c")),
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "0" and not (tmp_path / "c").exists()
    from proxmo_envs.webshop.data import get_catalog

    get_catalog("embedded", cache_dir=tmp_path / "c2")
    # a fresh cache dir only gets the index if the catalogue was not already loaded in this process
    from proxmo_envs.webshop.data import clear_cache

    clear_cache()
    get_catalog("embedded", cache_dir=tmp_path / "c3")
    (entry,) = (tmp_path / "c3" / "webshop").iterdir()
    assert entry.name.startswith("bm25-") and (entry / "asins.json").is_file()


# ---- bad input ----------------------------------------------------------------------------------------
def test_bad_kwargs_and_options(tmp_path):
    env = make().unwrapped
    with pytest.raises(ValueError, match=r"goal_index=100000 is out of range for the 'train' split \(4600 goals"):
        env.reset(options={"goal_index": 100_000})
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"task_index": -1})
    with pytest.raises(TypeError, match="must be an int"):
        env.reset(options={"goal_index": "3"})
    with pytest.raises(ValueError, match="disagree"):
        env.reset(options={"goal_index": 1, "task_index": 2})
    with pytest.raises(TypeError, match="actions are strings"):
        env.reset(seed=0)
        env.step(3)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        make(split="dev")
    with pytest.raises(ValueError, match="goals must be 'synthetic' or 'human'"):
        make(goals="robot")
    with pytest.raises(ValueError, match="max_steps"):
        make(max_steps=0)
    with pytest.raises(ValueError, match="noun_extractor"):
        make(noun_extractor="bert")


def test_bad_catalog_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="catalogue folder not found"):
        make(catalog=str(tmp_path / "nope"))
    d = tmp_path / "cat"
    d.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no file matching 'items_shuffle\*\.json'"):
        make(catalog=str(d))
    (d / "items_shuffle_x.json").write_text("[{")
    (d / "items_ins_v2_x.json").write_text("{}")
    with pytest.raises(ValueError, match=r"malformed JSON in WebShop file .*items_shuffle_x\.json"):
        make(catalog=str(d))
    (d / "items_shuffle_x.json").write_text(json.dumps([{"asin": "B1", "name": "x"}]))
    with pytest.raises(ValueError, match=r"items_shuffle_x\.json\[0\]: missing key\(s\) full_description"):
        make(catalog=str(d))
    (d / "items_shuffle_x.json").write_text(json.dumps({"asin": "B1"}))
    with pytest.raises(ValueError, match="must hold a JSON list"):
        make(catalog=str(d))
    (d / "items_shuffle_y.json").write_text("[]")
    with pytest.raises(ValueError, match="2 files matching"):
        make(catalog=str(d))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.lists(st.sampled_from(["search[blue shirt]", "click[next >]", "click[buy now]", "click[< prev]"]), max_size=3),
       action=st.one_of(st.text(max_size=60),
                        st.builds(lambda n, a: f"{n}[{a}]", st.sampled_from(["click", "search", "Click", "buy"]), st.text(max_size=30))))
def test_fuzz_any_string_action(prefix, action):
    env = _FUZZ_ENV
    env.reset(seed=0)
    for a in prefix:
        env.step(a)
    obs, r, term, trunc, info = env.step(action)
    assert isinstance(obs, str) and 0.0 <= r <= 1.0 and isinstance(info["invalid_action"], bool)
    assert env.observation_space.contains(obs) or any(ch not in env.observation_space.character_set for ch in action)


_FUZZ_ENV = None


@pytest.fixture(autouse=True, scope="module")
def fuzz_env():
    global _FUZZ_ENV
    _FUZZ_ENV = gym.make(ID, noun_extractor="words", max_steps=1000).unwrapped
    yield


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=25))
def test_every_admissible_action_is_valid_and_info_is_consistent(seed, picks):
    env = _FUZZ_ENV
    obs, info = env.reset(seed=seed)
    for k in picks:
        acts = info["admissible_actions"]
        if not acts:
            break
        a = acts[k % len(acts)]
        a = a.replace("<query>", info["goal"]["query"])
        obs, r, term, trunc, info = env.step(a)
        assert info["invalid_action"] is (a == "click[search]")  # upstream lists the button but ignores it
        page = info["page"]
        assert obs.startswith({"start": "WebShop [SEP]", "done": "Thank you"}.get(page, "Instruction: [SEP]"))
        assert ("Total results" in obs) is (page == "results")
        assert term is (page == "done") and (r > 0) <= term
        assert info["available_actions"]["has_search_bar"] is (page == "start")
        if term:
            assert r == info["task_score"] and info["won"] is (r == 1.0)
            break


def test_human_goals_need_their_file(webshop_real_dir):
    with pytest.raises(FileNotFoundError, match=r"goals='human' needs a file matching 'items_human_ins\*\.json'"):
        make(catalog=str(webshop_real_dir), goals="human")


def test_truncation_at_max_steps():
    env = make(max_steps=3)
    env.reset(seed=0)
    flags = [env.step("click[search]")[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


# ---- scripted and random agents ---------------------------------------------------------------------
def oracle_scores(env) -> np.ndarray:
    """The oracle's task score on every goal of ``env``'s split (15 steps at most each)."""
    orc = WebShopOracle()
    scores = []
    for i in range(env.task_count):
        obs, info = env.reset(options={"goal_index": i})
        for _ in range(15):
            obs, r, term, trunc, info = env.step(orc(obs, info))
            if term or trunc:
                break
        scores.append(info["task_score"])
    return np.array(scores)


def test_oracle_scores_one_on_at_least_95_percent_of_embedded_goals():
    scores = oracle_scores(make(split="all").unwrapped)
    assert len(scores) == 4799
    assert (scores == 1.0).mean() >= 0.95
    assert scores.mean() > 0.99


def test_oracle_on_human_goals():
    env = make(goals="human", split="all").unwrapped
    orc = WebShopOracle()
    won = [run_episode(env, orc, options={"goal_index": i})[2]["won"] for i in range(env.task_count)]
    assert np.mean(won) >= 0.95


def test_random_agent_scores_low():
    env = make(split="test").unwrapped
    rng = np.random.default_rng(0)

    def policy(obs, info):
        acts = info["admissible_actions"]
        a = acts[int(rng.integers(len(acts)))]
        return a.replace("<query>", info["goal"]["query"]) if a.startswith("search") else a

    rewards = [run_episode(env, policy, seed=s)[1] for s in range(200)]
    assert np.mean(rewards) < 0.3
    assert np.mean(np.array(rewards) == 1.0) < 0.05
