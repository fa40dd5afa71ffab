"""Translation products shipped with the games (products.py) and game grammars parsed from alfworld's
template (documents.py): both give exactly what TextWorld computes itself, and a damaged, foreign or
outdated products file is never used (one warning line, the game is translated as without it)."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from proxmo_envs.alfworld import diskcache, engine, products, speedups
from proxmo_envs.alfworld.env import ALFWorldEnv
from proxmo_envs.alfworld.games import SPLITS, load_games


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """Private disk cache, fresh in-memory translations, no products file registered before or after."""
    monkeypatch.setenv(diskcache.ENV_DIR, str(tmp_path / "disk-cache"))
    products.unregister_all()
    speedups.disable()  # drops the memoised translations, so lookups reach the products
    speedups.enable(plain_sas_for_replan=True)
    yield
    products.unregister_all()


def _reference(problem: str) -> tuple:
    saved = list(sys.argv)
    try:
        return speedups.original_pddl2sas()(engine.pddl_domain(), problem)
    finally:
        sys.argv[:] = saved


def test_member_encoding_round_trips():
    # words of 8+ characters starting with a letter become codes "\x01" + two of the 94 printable characters
    assert products.encode_sas("NegatedAtom opened(cabinet_bar__minus_01)") == (
        b"words\nNegatedAtom\ncabinet_bar__minus_01\n\n\x01!! opened(\x01!\")")
    sas = "begin_variable\nvar0\n-1\n2\nAtom opened(cabinet_1)\nNegatedAtom opened(cabinet_1)\nend_variable\n"
    assert products.decode_sas(products.encode_sas(sas)) == sas
    assert products.encode_sas("a\x01b") == b"raw\na\x01b"  # the code mark in the text: stored as is
    assert products.decode_sas(b"raw\na\x01b") == "a\x01b"
    with pytest.raises(ValueError, match="refers to a word"):
        products.decode_sas(b"words\nNegatedAtom\n\n\x01!\"")  # code 1, but one word listed
    with pytest.raises(ValueError, match="unknown member format"):
        products.decode_sas(b"PK\x03\x04")


def test_products_give_fast_downwards_own_translation(tmp_path):
    games = load_games("eval_unseen")[:2]
    path = tmp_path / "eval_unseen.sas.zip"
    problems = [g.pddl_problem for g in games]
    assert products.write_products(path, problems) == {"kept": 0, "computed": 2}
    assert products.write_products(path, problems) == {"kept": 2, "computed": 0}  # reused, not recomputed
    assert products.translation(engine.pddl_domain(), problems[0]) is None  # not registered yet
    assert products.register(path)
    for problem in problems:
        task, sas = products.translation(engine.pddl_domain(), problem)
        ref_task, ref_sas = _reference(problem)
        assert sas == ref_sas
        assert pickle.dumps(task) == pickle.dumps(ref_task)  # the parsed task, every object the same
    assert products.translation(engine.pddl_domain(), load_games("eval_unseen")[2].pddl_problem) is None


def test_shipped_products_cover_every_shipped_game():
    from proxmo_envs._paths import data_root

    domain = engine.pddl_domain()
    for split in SPLITS:
        path = products.products_path(data_root() / "alfworld", split)
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read(products.META))
            names = set(zf.namelist())
        assert meta["format"] == products.FORMAT and meta["engine"] == diskcache.engine_versions(), (
            f"{path} was made for {meta}: rewrite it with python -m proxmo_envs.alfworld.products --data data/alfworld")
        missing = [g.game_id for g in load_games(split) if products.product_key(domain, g.pddl_problem) not in names]
        assert not missing, f"{path} lacks {len(missing)} games, e.g. {missing[0]}: rewrite it"


def _folder_with_products(tmp_path: Path, n: int = 1) -> Path:
    from proxmo_envs._paths import data_root

    folder = tmp_path / "games"
    folder.mkdir()
    shutil.copy(data_root() / "alfworld" / "eval_unseen.jsonl.gz", folder)
    products.write_products(products.products_path(folder, "eval_unseen"),
                            [g.pddl_problem for g in load_games("eval_unseen")[:n]])
    return folder


def _damage_member(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename != products.META)
    blob = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename)  # local header, then (no extra field) the data
    mid = start + info.compress_size // 2
    blob[mid] ^= 0xFF
    path.write_bytes(bytes(blob))


def _first_observation(env: ALFWorldEnv) -> tuple:
    obs, info = env.reset(options={"game_index": 0})
    return obs, info["admissible_commands"]


def test_damaged_product_is_reported_in_one_line_and_not_used(tmp_path):
    folder = _folder_with_products(tmp_path)
    _damage_member(products.products_path(folder, "eval_unseen"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = _first_observation(ALFWorldEnv(split="eval_unseen", data_dir=folder))
    lines = [str(w.message) for w in caught if "products" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "eval_unseen.sas.zip: the product of one game" in lines[0] and "damaged" in lines[0]
    speedups.disable()
    try:
        assert fast == _first_observation(ALFWorldEnv(split="eval_unseen", data_dir=folder, speedups=False))
    finally:
        speedups.enable(plain_sas_for_replan=True)


@pytest.mark.parametrize("problem", ["not a zip", "old format", "other engine"])
def test_unusable_products_file_is_reported_in_one_line(tmp_path, problem):
    folder = _folder_with_products(tmp_path)
    path = products.products_path(folder, "eval_unseen")
    if problem == "not a zip":
        path.write_bytes(b"this is not a zip file")
        expected = "is not a readable products file"
    else:
        with zipfile.ZipFile(path) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        meta = json.loads(members[products.META])
        if problem == "old format":
            meta["format"], expected = 1, "has products format 1"
        else:
            meta["engine"], expected = "2/textworld-0.0/fd-0.0", "was made with engine versions 2/textworld-0.0"
        members[products.META] = json.dumps(meta).encode()
        with zipfile.ZipFile(path, "w") as zf:
            for n, data in members.items():
                zf.writestr(n, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = ALFWorldEnv(split="eval_unseen", data_dir=folder)
        _first_observation(env)
    lines = [str(w.message) for w in caught if "products" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0] and expected in lines[0], lines


def test_game_grammar_from_the_template_equals_its_own_parse():
    from proxmo_envs.alfworld.documents import TemplateParse

    original = speedups._originals["document"]

    def parse(text: str):
        return original(text, rule_name="pddlStart")

    def structure(o):
        if isinstance(o, (str, int, float, bool, type(None))):
            return o
        if isinstance(o, dict):
            return ("dict", tuple((structure(k), structure(v)) for k, v in o.items()))
        if isinstance(o, (list, tuple)):
            return (type(o).__name__, tuple(structure(x) for x in o))
        return (type(o).__name__, structure(vars(o)))

    template = TemplateParse(engine.grammar_template(), parse)
    for task in ("put a mug in desk", "heat some #egg# {x} [and] put it in fridge & 'run' ~ 1 < 2"):
        text = engine.grammar_for(task)
        assert template.task_of(text) == task
        assert structure(template.parse(text)) == structure(parse(text))
    assert template.parse(engine.grammar_for('say "hi"')) is None  # unsafe goal text: the caller parses it
    assert template.parse(engine.grammar_for("a\\nb")) is None
    assert template.parse("grammar :: nothing like the template") is None


def _lookup_in_child(problem: str) -> tuple:
    import hashlib
    import os

    sas = products.lookup(engine.pddl_domain(), problem)
    (f,) = products._files.values()
    return f._pid == os.getpid(), hashlib.sha256(sas.encode()).hexdigest()


def test_a_forked_process_reads_the_products_through_its_own_file(tmp_path):
    """A forked child shares the parent's file offset: it reopens the zip instead of reading through it."""
    import hashlib
    import multiprocessing

    folder = _folder_with_products(tmp_path)
    assert products.register(products.products_path(folder, "eval_unseen"))
    problem = load_games("eval_unseen")[0].pddl_problem
    sas = products.lookup(engine.pddl_domain(), problem)  # the parent opens the file
    with multiprocessing.get_context("fork").Pool(1) as pool:
        reopened, digest = pool.apply(_lookup_in_child, (problem,))
    assert reopened and digest == hashlib.sha256(sas.encode()).hexdigest()
