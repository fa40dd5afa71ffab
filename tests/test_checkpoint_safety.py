"""Checkpoints load with ``weights_only=True``: a crafted file runs no code and is one clear error, wherever a
checkpoint is read (``proxmo update --checkpoint``, ``train --resume``, ``train --init-from``)."""

from __future__ import annotations

import shutil

import pytest
import torch

from proxmo_analysis.cli import main
from proxmo_analysis.policy import build_policy, load_checkpoint, save_checkpoint
from proxmo_analysis.policy.checkpoint import CheckpointError

TINY = {"encoder": "hashed", "hashed_dim": 8, "hashed_buckets": 256, "hidden": 8}
TINY_ARGS = [a for kv in ("encoder=hashed", "hashed_dim=8", "hashed_buckets=256", "hidden=8") for a in ("--policy-config", kv)]


class _Payload:
    """Unpickling this runs ``exec`` (what a crafted checkpoint would do), which writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def plant(path, marker):
    """A file shaped like a proxmo checkpoint whose ``extra`` would execute code when unpickled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = build_policy("scorer", TINY)
    torch.save({"format": "proxmo-policy/1", "backend": "scorer", "config": TINY, "state_dict": policy.state_dict(),
                "ref_state_dict": None, "optimizer": None, "extra": {"iteration": 0, "evil": _Payload(marker)}}, path)
    return path


def test_round_trip_keeps_weights_optimizer_and_extras(tmp_path):
    policy = build_policy("scorer", TINY, seed=1)
    opt = torch.optim.Adam(policy.parameters(), lr=0.1)
    extra = {"iteration": 3, "metrics": [{"iteration": 0, "loss": float("nan"), "eval_success": 0.5}],
             "config": {"env_id": "x", "policy_config": TINY}}
    path = save_checkpoint(tmp_path / "ck.pt", policy, policy.clone_frozen(), opt, extra)
    ck = load_checkpoint(path)
    assert all(torch.equal(v, ck.policy.state_dict()[k]) for k, v in policy.state_dict().items())
    assert ck.ref_policy is not None and ck.optimizer_state["param_groups"][0]["lr"] == 0.1
    assert ck.extra["iteration"] == 3 and ck.extra["config"] == extra["config"]
    assert ck.extra["metrics"][0]["eval_success"] == 0.5 and ck.extra["metrics"][0]["loss"] != ck.extra["metrics"][0]["loss"]


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"\x80\x02}q\x00."])
def test_a_file_that_is_not_a_checkpoint_is_one_error(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="x.pt is not a"):
        load_checkpoint(path)


def test_update_refuses_a_crafted_checkpoint_without_running_it(tmp_path, capsys):
    marker = tmp_path / "pwned"
    ck = plant(tmp_path / "evil.pt", marker)
    assert main(["update", str(tmp_path / "run"), "--checkpoint", str(ck)]) == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "proxmo update: error:" in err and "evil.pt" in err and "could run code" in err


def test_train_resume_refuses_a_planted_last_pt(tmp_path, capsys):
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    plant(out / "checkpoints" / "last.pt", marker)
    code = main(["train", "--iterations", "1", "--tasks", "1", "--group-size", "2", "--eval-tasks", "1",
                 "--out", str(out), "--resume", "--no-progress", *TINY_ARGS])
    assert code == 2 and not marker.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "last.pt is not a loadable proxmo policy checkpoint" in err


def test_train_init_from_refuses_a_planted_start(tmp_path, capsys):
    marker = tmp_path / "pwned"
    plant(tmp_path / "start" / "checkpoints" / "last.pt", marker)
    code = main(["train", "--iterations", "1", "--tasks", "1", "--group-size", "2", "--eval-tasks", "1",
                 "--out", str(tmp_path / "run"), "--init-from", str(tmp_path / "start"), "--no-progress", *TINY_ARGS])
    assert code == 2 and not marker.exists()
    assert "could run code" in capsys.readouterr().err


def test_truncated_last_pt_names_the_newest_good_iteration_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--tasks", "1", "--group-size", "2", "--eval-tasks", "1", "--eval-every", "1", "--out", str(out),
            "--no-progress", *TINY_ARGS]
    assert main([*base, "--iterations", "2"]) == 0
    ckdir = out / "checkpoints"
    data = (ckdir / "last.pt").read_bytes()
    (ckdir / "last.pt").write_bytes(data[: len(data) // 2])  # as a full disk would leave it
    (ckdir / "iter-0002.pt").write_bytes(data[:100])
    capsys.readouterr()
    assert main([*base, "--iterations", "3", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resume" in err and "iter-0001.pt" in err
    shutil.copyfile(ckdir / "iter-0001.pt", ckdir / "last.pt")  # the advice works
    assert main([*base, "--iterations", "3", "--resume"]) == 0
    assert load_checkpoint(ckdir / "last.pt").extra["iteration"] == 3


def test_a_failed_save_leaves_no_temporary(tmp_path, monkeypatch):
    policy = build_policy("scorer", TINY)

    def full_disk(obj, f):
        open(f, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path / "ck.pt", policy)
    assert list(tmp_path.iterdir()) == []
