"""A real (short) training run: the loss falls, runs resume after a kill, and DDP works with 2 processes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emorec.training.augment import random_affine  # noqa: E402
from emorec.training.net import ARCHITECTURES, build_model  # noqa: E402
from emorec.training.train import TrainConfig, train  # noqa: E402


def _log(run):
    with open(run / "log.csv") as fh:
        return list(csv.DictReader(fh))


def test_mini_xception_layout():
    m = build_model("mini_xception", 7)
    assert 50_000 < sum(p.numel() for p in m.parameters()) < 70_000  # the paper's ~60k
    assert len(m.modules_) == 4 and [mod.shortcut[0].out_channels for mod in m.modules_] == [16, 32, 64, 128]
    assert m(torch.zeros(3, 1, 48, 48)).shape == (3, 7)
    for arch in ARCHITECTURES:
        assert build_model(arch, 8)(torch.zeros(1, 1, 64, 64)).shape == (1, 8)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet", 7)


def test_augmentation_is_batched_and_bounded():
    x = torch.linspace(-1, 1, 48).repeat(8, 1, 48, 1)
    g = torch.Generator().manual_seed(0)
    y = random_affine(x, generator=g)
    assert y.shape == x.shape and y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5
    assert not torch.allclose(y, x)
    same = random_affine(x, rotation=0, shift=0, zoom=0, flip=False)
    assert torch.allclose(same, x, atol=1e-5)
    flipped = random_affine(x, rotation=0, shift=0, zoom=0, flip=True, generator=torch.Generator().manual_seed(1))
    for a, b in zip(flipped, x):  # each image is either itself or its mirror
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a, b.flip(-1), atol=1e-5)


def test_training_lowers_the_loss_and_writes_a_run(trained_run):
    run, best = trained_run
    rows = _log(run)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) - 0.1
    assert best["val_acc"] > 0.3  # chance is 1/7 on the synthetic classes
    for f in ("best.pt", "last.pt", "curves.png", "config.json"):
        assert (run / f).stat().st_size > 0
    assert json.loads((run / "config.json").read_text())["classes"][3] == "happy"


def test_bf16_training_also_learns(tiny_csv, tmp_path):
    """--bf16 (autocast) trains the same float32 weights: the loss falls and the checkpoint stays float32."""
    best = train(TrainConfig(data=str(tiny_csv), out=str(tmp_path), epochs=3, batch_size=32, lr=3e-3, bf16=True,
                             progress=False, threads=1), log=lambda s: None)
    rows = _log(tmp_path)
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) - 0.1
    assert best["val_acc"] > 0.3
    ck = torch.load(tmp_path / "best.pt", weights_only=False)
    assert all(v.dtype in (torch.float32, torch.int64) for v in ck["model"].values())


def test_same_seed_same_run(tiny_csv, tmp_path):
    kw = dict(data=str(tiny_csv), epochs=1, batch_size=32, limit=160, progress=False, threads=1)
    train(TrainConfig(out=str(tmp_path / "a"), **kw), log=lambda s: None)
    train(TrainConfig(out=str(tmp_path / "b"), **kw), log=lambda s: None)
    a, b = _log(tmp_path / "a")[0], _log(tmp_path / "b")[0]
    assert a["train_loss"] == b["train_loss"] and a["val_acc"] == b["val_acc"]


def _cli(*args):
    return [sys.executable, "-m", "emorec", "train", *map(str, args)]


def test_resume_after_kill_loses_at_most_one_epoch(tiny_csv, tmp_path):
    run = tmp_path / "run"
    cmd = _cli(tiny_csv, "--out", run, "--epochs", 40, "--batch-size", 32, "--threads", 1, "--no-progress")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not ((run / "log.csv").exists() and len(_log(run)) >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_log(run))
    assert 2 <= done < 40
    ck = torch.load(run / "last.pt", weights_only=False)
    assert ck["epoch"] >= done - 1  # the checkpoint holds every logged epoch
    out = subprocess.run(_cli(tiny_csv, "--out", run, "--epochs", done + 2, "--batch-size", 32, "--threads", 1,
                              "--no-progress", "--resume"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"resumed from {run / 'last.pt'} at epoch {ck['epoch'] + 1}" in out.stderr
    epochs = [int(r["epoch"]) for r in _log(run)]
    assert epochs == list(range(done + 2))  # no epoch missing or repeated


@pytest.mark.slow
def test_ddp_two_processes_gloo(tiny_csv, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "emorec", "train", str(tiny_csv), "--out", str(run), "--epochs", "2",
                          "--batch-size", "32", "--no-progress"], capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["world_size"] == 2
    rows = _log(run)
    assert len(rows) == 2  # one process writes the log: no duplicate rows
    assert out.stderr.count("epoch 1/2 ") == 1
    # each process saw half of every epoch: 480 rows / (32 * 2) = 7 steps per process
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    ck = torch.load(run / "best.pt", weights_only=False)
    assert not any(k.startswith("module.") for k in ck["model"])  # loadable without DDP


def test_bad_data_gives_a_clear_cli_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n1,1 2 3,Training\n")
    out = subprocess.run(_cli(bad, "--out", tmp_path / "r", "--epochs", 1), capture_output=True, text=True)
    assert out.returncode == 1
    assert "error:" in out.stderr and "bad.csv: row 1" in out.stderr and "'pixels'" in out.stderr
    assert "Traceback" not in out.stderr


def test_skip_bad_rows_trains_on_the_rest_and_says_how_many(tmp_path):
    from conftest import synthetic_faces, write_fer_csv

    images, labels = synthetic_faces(80)
    labels = labels.copy()
    labels[[3, 9]] = 42
    csv_path = write_fer_csv(tmp_path / "f.csv", images, labels, ["Training"] * 64 + ["PublicTest"] * 16)
    out = subprocess.run(_cli(csv_path, "--out", tmp_path / "r", "--epochs", 1, "--batch-size", 16,
                              "--skip-bad-rows", "--no-progress"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "skipped 2 bad rows" in out.stderr and "row 4" in out.stderr
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train_rows"] == 62
