"""A real (short) training run: the loss falls, runs resume after a kill, DDP works with 2 processes, best.pt is
selected on the validation part of Training (PublicTest measured once, at the end), and bad options or output
places are refused with a clear message."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emorec.training.augment import augment, random_affine, random_erasing, random_photometric  # noqa: E402
from emorec.training.config import AUGMENTATIONS  # noqa: E402
from emorec.training.net import ARCHITECTURES, build_model  # noqa: E402
from emorec.training.train import TrainConfig, train  # noqa: E402

from conftest import synthetic_faces  # noqa: E402


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


def test_erasing_replaces_one_rectangle_in_about_half_the_images():
    x = torch.zeros(400, 1, 48, 48)
    y = random_erasing(x, p=0.5, generator=torch.Generator().manual_seed(0))
    changed = (y != 0).flatten(1)
    hit = changed.any(1)
    assert 0.4 < hit.float().mean() < 0.6
    area = changed[hit].float().sum(1) / (48 * 48)
    assert area.min() > 0.005 and area.max() <= 0.21  # 2-20% of the image (a few noise pixels may be ~0)
    for img in (y[hit] != 0)[:20, 0]:  # the changed pixels lie in one rectangle
        rows, cols = img.any(1).nonzero(), img.any(0).nonzero()
        box = img[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.float().mean() > 0.9
    assert torch.equal(random_erasing(x, p=0.0), x)


def test_photometric_blurs_sharpens_and_stays_in_range():
    x = torch.zeros(2, 1, 48, 48)
    x[:, :, :, 24:] = 0.5  # one vertical edge
    edge = lambda t: (t[:, :, :, 25] - t[:, :, :, 22]).abs().mean().item()  # noqa: E731
    blurred = random_photometric(x, sharpness=1e-9, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(blurred, x, atol=1e-6)  # no amount, no change
    outs = [random_photometric(x, sharpness=1.0, generator=torch.Generator().manual_seed(s)) for s in range(20)]
    assert min(edge(o) for o in outs) < edge(x) and max(o.abs().max().item() for o in outs) <= 1.0
    dark = random_photometric(torch.full((64, 1, 8, 8), 0.9), brightness=0.5, generator=torch.Generator().manual_seed(1))
    assert dark.max() <= 1.0 and dark.min() < 0.9  # clipped, and some images got darker


def test_every_augmentation_preset_runs_and_keeps_the_batch():
    x = torch.linspace(-1, 1, 48).repeat(16, 1, 48, 1)
    for name, params in AUGMENTATIONS.items():
        y = augment(x, params, torch.Generator().manual_seed(0))
        assert y.shape == x.shape and y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5, name
        assert not torch.allclose(y, x), name
    assert set(AUGMENTATIONS["seed"]) == {"rotation", "shift", "zoom", "flip"}  # the seed's Keras generator


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
    """--precision bf16 (autocast) trains the same float32 weights: the loss falls and the checkpoint stays float32."""
    best = train(TrainConfig(data=str(tiny_csv), out=str(tmp_path), epochs=3, batch_size=32, lr=3e-3,
                             precision="bf16", device="cpu", progress=False, threads=1), log=lambda s: None)
    rows = _log(tmp_path)
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) - 0.1
    assert best["val_acc"] > 0.3
    assert json.loads((tmp_path / "config.json").read_text())["precision"] == "bf16"
    ck = torch.load(tmp_path / "best.pt", weights_only=True)
    assert all(v.dtype in (torch.float32, torch.int64) for v in ck["model"].values())


def test_fp16_uses_a_gradient_scaler(tiny_csv, tmp_path):
    """fp16 autocast (GPUs without bf16) scales the loss; the scaler's state is kept for --resume."""
    train(TrainConfig(data=str(tiny_csv), out=str(tmp_path), epochs=1, batch_size=32, limit=100, precision="fp16",
                      device="cpu", progress=False, threads=1), log=lambda s: None)
    ck = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ck["scaler"]["scale"] > 1 and ck["config"]["precision"] == "fp16"
    assert all(v.dtype in (torch.float32, torch.int64) for v in ck["model"].values())


def test_batches_converted_on_the_device_equal_the_preprocessing():
    from emorec.preprocess import preprocess
    from emorec.training.train import to_input

    faces, _ = synthetic_faces(9)
    np.testing.assert_array_equal(to_input(torch.from_numpy(faces).unsqueeze(1)).numpy(), preprocess(faces))


def test_best_checkpoint_is_selected_on_the_validation_part(trained_run, tiny_csv):
    """best.pt is the epoch of highest accuracy on the part of Training held out, its recorded accuracy is
    that part's, and PublicTest is measured once, at the end, with it (test.json)."""
    from emorec.data import read_fer2013_csv
    from emorec.training.export import load_checkpoint
    from emorec.training.train import evaluate_logits

    run, best = trained_run
    cfg = json.loads((run / "config.json").read_text())
    data = read_fer2013_csv(tiny_csv)
    _, val = data.split("Training").stratified_split(0.1, seed=0)
    assert cfg["selection"] == "best validation accuracy on 10% of Training (stratified by class, seed 0)"
    assert cfg["validation"]["rows"] == len(val) and cfg["validation"]["rows_sha256"] == val.fingerprint()
    with open(run / "log.csv") as fh:
        assert next(csv.reader(fh)) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    val_acc = [float(r["val_acc"]) for r in _log(run)]
    model, ck = load_checkpoint(run / "best.pt")
    assert ck["epoch"] == int(np.argmax(val_acc)) == best["epoch"] and ck["selection"] == cfg["selection"]

    def accuracy(d):
        x = torch.from_numpy(d.images).unsqueeze(1)
        return (evaluate_logits(model, x).argmax(1).numpy() == d.labels).mean()

    assert accuracy(val) == pytest.approx(ck["val_acc"], abs=1e-6) == pytest.approx(max(val_acc), abs=1e-5)
    test = json.loads((run / "test.json").read_text())
    public = data.split("PublicTest")
    assert test["split"] == "PublicTest" and test["rows"] == 120 and test["epoch"] == ck["epoch"] + 1
    assert test["accuracy"] == pytest.approx(accuracy(public), abs=1e-4) == best["test"]["accuracy"]


def test_same_seed_same_run(tiny_csv, tmp_path):
    kw = dict(data=str(tiny_csv), epochs=1, batch_size=32, limit=160, progress=False, threads=1)
    train(TrainConfig(out=str(tmp_path / "a"), **kw), log=lambda s: None)
    train(TrainConfig(out=str(tmp_path / "b"), **kw), log=lambda s: None)
    a, b = _log(tmp_path / "a")[0], _log(tmp_path / "b")[0]
    assert a["train_loss"] == b["train_loss"] and a["val_acc"] == b["val_acc"]


def _cli(*args, command="train"):
    return [sys.executable, "-m", "emorec", command, *map(str, args)]


def _run(*args, command="train", timeout=300):
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run(_cli(*args, command=command), capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_trains_on_cpu_and_measures_publictest_once(tiny_csv, tmp_path):
    run = tmp_path / "run"
    out = _run(tiny_csv, "--out", run, "--device", "cpu", "--epochs", 2, "--limit", 200, "--batch-size", 32,
               "--threads", 1, "--no-progress")
    assert out.returncode == 0, out.stderr
    final = json.loads(out.stdout.strip().splitlines()[-1])
    test = json.loads((run / "test.json").read_text())
    assert final["test_split"] == "PublicTest" and final["test_acc"] == test["accuracy"] and final["test_rows"] == 120
    assert final["val_rows"] == json.loads((run / "config.json").read_text())["validation"]["rows"]
    assert abs(final["val_rows"] - 20) <= 7  # 10% of the 200 Training rows used, within a row per class
    epoch_lines = [ln for ln in out.stderr.splitlines() if ln.startswith("epoch ")]
    assert len(epoch_lines) == 2 and not any("PublicTest" in ln or "test" in ln for ln in epoch_lines)
    assert sum("PublicTest (measured once" in ln for ln in out.stderr.splitlines()) == 1
    assert json.loads((run / "config.json").read_text())["device"] == "cpu"


@pytest.mark.parametrize("option, value, words", [
    ("--schedule", "step", "'step' is not one of plateau, cosine"),
    ("--arch", "resnet", "'resnet' is not one of mini_xception"),
    ("--labels", "affectnet", "'affectnet' is not one of fer2013, ferplus"),
    ("--device", "tpu", "'tpu' is not one of auto, cpu, cuda, mps"),
    ("--precision", "fp8", "'fp8' is not one of auto, fp32, bf16, fp16"),
    ("--epochs", "0", "must be >= 1"),
    ("--epochs", "-3", "must be >= 1"),
    ("--batch-size", "0", "must be >= 1"),
    ("--lr", "0", "must be > 0"),
    ("--label-smoothing", "1", "must be in [0, 1)"),
    ("--val-fraction", "1.5", "must be in (0, 1)"),
    ("--val-fraction", "0", "must be in (0, 1)"),
])
def test_bad_option_values_are_refused_naming_the_option(tiny_csv, tmp_path, option, value, words):
    out = _run(tiny_csv, "--out", tmp_path / "r", option, value)
    assert out.returncode == 2 and f"'{option}'" in out.stderr and words in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "r").exists()


def test_an_existing_run_is_not_overwritten(tiny_csv, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"mine": 1}')
    out = _run(tiny_csv, "--out", run, "--epochs", 1)
    assert out.returncode == 2 and "already holds a run" in out.stderr and "--overwrite" in out.stderr
    assert (run / "config.json").read_text() == '{"mine": 1}' and not (run / "log.csv").exists()


def test_resume_without_a_checkpoint_is_refused(tiny_csv, tmp_path):
    out = _run(tiny_csv, "--out", tmp_path / "fresh", "--epochs", 1, "--resume")
    assert out.returncode == 2 and f"{tmp_path / 'fresh' / 'last.pt'} not found" in out.stderr
    assert not (tmp_path / "fresh" / "config.json").exists()


def test_resume_with_another_validation_split_is_refused(trained_run, tiny_csv, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run[0], run)
    out = _run(tiny_csv, "--out", run, "--epochs", 5, "--resume", "--val-seed", 1, "--no-progress")
    assert out.returncode == 2 and "validation split differ" in out.stderr
    assert len(_log(run)) == 3


def test_best_pt_changes_only_for_a_higher_validation_accuracy(trained_run, tiny_csv, tmp_path):
    """Resume a copy of a run whose record says the best validation accuracy so far is out of reach:
    the new epoch is logged and saved to last.pt, but best.pt stays the old epoch's."""
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run[0], run)
    ck = torch.load(run / "last.pt", weights_only=True)
    ck["best"]["val_acc"] = 1.01
    torch.save(ck, run / "last.pt")
    before = torch.load(run / "best.pt", weights_only=True)["epoch"]
    train(TrainConfig(data=str(tiny_csv), out=str(run), epochs=4, batch_size=32, lr=3e-3, resume=True,
                      progress=False, threads=1), log=lambda s: None)
    assert len(_log(run)) == 4 and torch.load(run / "last.pt", weights_only=True)["epoch"] == 3
    assert torch.load(run / "best.pt", weights_only=True)["epoch"] == before
    test = json.loads((run / "test.json").read_text())
    assert test["epoch"] == before + 1
    # and PublicTest was measured with that best.pt, not with the last epoch's weights
    from emorec.data import read_fer2013_csv
    from emorec.training.export import load_checkpoint
    from emorec.training.train import evaluate_logits, soft_cross_entropy

    public = read_fer2013_csv(tiny_csv).split("PublicTest")
    logits = evaluate_logits(load_checkpoint(run / "best.pt")[0], torch.from_numpy(public.images).unsqueeze(1))
    loss = soft_cross_entropy(logits, torch.from_numpy(public.soft_targets())).item()
    assert test["loss"] == pytest.approx(loss, abs=2e-5)


@pytest.mark.parametrize("command", ["train", "evaluate", "export"])
def test_unwritable_out_is_a_clear_error(trained_run, tiny_csv, tmp_path, command):
    afile = tmp_path / "afile"
    afile.write_text("a file, not a folder")
    first = {"train": tiny_csv, "evaluate": tiny_csv, "export": trained_run[0] / "best.pt"}[command]
    for bad in (afile / "x", "/proc/emorec/x"):
        target = f"{bad}.onnx" if command == "export" else bad
        out = _run(first, "--out", target, command=command)
        assert out.returncode == 1 and "error:" in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert "cannot write" in out.stderr and str(Path(target).parent if command == "export" else target) \
            in out.stderr


def test_export_of_a_non_checkpoint_is_a_clear_error(tmp_path):
    import pickle

    from emorec.samples import sample_path

    text = tmp_path / "text.jpg"
    text.write_text("hello")  # PyTorch's legacy unpickler fails on it with KeyError: 101
    other = tmp_path / "other.pt"
    other.write_bytes(pickle.dumps({"not": "a checkpoint"}))
    for bad in (sample_path(), text, other, tmp_path):
        out = _run(bad, "--out", tmp_path / "x.onnx", command="export")
        assert out.returncode == 1 and "Traceback" not in out.stderr and "Unpickling" not in out.stderr, out.stderr
        assert str(bad) in out.stderr and not (tmp_path / "x.onnx").exists()
        assert ("not an emorec checkpoint" if bad != tmp_path else "is a folder") in out.stderr


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
    ck = torch.load(run / "last.pt", weights_only=True)  # tensors and plain types only
    assert ck["epoch"] >= done - 1  # the checkpoint holds every logged epoch
    out = subprocess.run(_cli(tiny_csv, "--out", run, "--epochs", done + 2, "--batch-size", 32, "--threads", 1,
                              "--no-progress", "--resume"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"resumed from {run / 'last.pt'} at epoch {ck['epoch'] + 1}" in out.stderr
    epochs = [int(r["epoch"]) for r in _log(run)]
    assert epochs == list(range(done + 2))  # no epoch missing or repeated


@pytest.mark.slow
@pytest.mark.parametrize("ema", [[], ["--ema", "0.99"]], ids=["", "ema"])
def test_ddp_two_processes_gloo(tiny_csv, tmp_path, ema):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "emorec", "train", str(tiny_csv), "--out", str(run), "--epochs", "2",
                          "--batch-size", "32", "--device", "cpu", "--no-progress", *ema],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["world_size"] == 2
    rows = _log(run)
    assert len(rows) == 2  # one process writes the log: no duplicate rows
    assert out.stderr.count("epoch 1/2 ") == 1
    # each process saw half of every epoch: 433 rows / (32 * 2) = 6 steps per process
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    ck = torch.load(run / "best.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in ck["model"])  # loadable without DDP
    if ema:
        assert all(0 <= float(r["raw_val_acc"]) <= 1 for r in rows)


def test_bad_data_gives_a_clear_cli_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n1,1 2 3,Training\n")
    out = subprocess.run(_cli(bad, "--out", tmp_path / "r", "--epochs", 1), capture_output=True, text=True)
    assert out.returncode == 1
    assert "error:" in out.stderr and "bad.csv: row 1" in out.stderr and "'pixels'" in out.stderr
    assert "Traceback" not in out.stderr


def test_skip_bad_rows_trains_on_the_rest_and_says_how_many(tmp_path):
    from conftest import write_fer_csv

    images, labels = synthetic_faces(80)
    labels = labels.copy()
    labels[[3, 9]] = 42
    csv_path = write_fer_csv(tmp_path / "f.csv", images, labels, ["Training"] * 64 + ["PublicTest"] * 16)
    out = subprocess.run(_cli(csv_path, "--out", tmp_path / "r", "--epochs", 1, "--batch-size", 16,
                              "--skip-bad-rows", "--no-progress"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "skipped 2 bad rows" in out.stderr and "row 4" in out.stderr
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["train_rows"] + cfg["validation"]["rows"] == 62


def test_distillation_blends_the_teachers_probabilities_into_the_targets(tiny_csv, tmp_path):
    from emorec import EmotionClassifier
    from emorec.training.config import ConfigError
    from emorec.training.train import _split_data, _targets, teacher_targets

    cfg = TrainConfig(data=str(tiny_csv), out=str(tmp_path), teacher="fer2013", distill_weight=0.7)
    part, _ = _split_data(cfg)
    labels = _targets(part, 0.1)
    blended = teacher_targets(cfg, part, labels).numpy()
    teacher = EmotionClassifier("fer2013", flip_tta=True, calibrated=False).predict(part.images)
    np.testing.assert_allclose(blended, 0.3 * labels.numpy() + 0.7 * teacher, atol=1e-6)
    np.testing.assert_allclose(blended.sum(1), 1.0, atol=1e-5)  # still distributions
    with pytest.raises(ConfigError, match="--teacher.*predicts"):  # 8 FER+ classes for 7-class data
        teacher_targets(TrainConfig(data=str(tiny_csv), out=str(tmp_path), teacher="ferplus"), part, labels)
    with pytest.raises(ConfigError, match="--teacher"):
        teacher_targets(TrainConfig(data=str(tiny_csv), out=str(tmp_path), teacher=str(tmp_path / "no.onnx")),
                        part, labels)


def test_ema_keeps_the_moving_average_of_the_weights(tiny_csv, tmp_path):
    """--ema D validates, selects and saves the weights' moving average (decay D a step): best.pt holds it, not
    the raw weights; the raw weights' validation accuracy is logged beside; --resume carries the average on."""
    kw = dict(data=str(tiny_csv), batch_size=32, lr=3e-3, ema=0.9, progress=False, threads=1)
    steps = (480 - 48) // 32  # a step a batch of the training part (48 rows are the validation part)
    train(TrainConfig(out=str(tmp_path), epochs=1, **kw), log=lambda s: None)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["ema"] == 0.9 and "moving average (decay 0.9" in cfg["selection"]
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    ema = {k[len("module."):]: v for k, v in last["ema"].items() if k.startswith("module.")}
    assert ema.keys() == last["model"].keys() and int(last["ema"]["n_averaged"]) == steps
    best = torch.load(tmp_path / "best.pt", weights_only=True)  # the first epoch is the best so far
    conv = [k for k, v in ema.items() if v.ndim == 4]
    assert all(torch.equal(best["model"][k], ema[k]) for k in conv)
    assert not all(torch.allclose(ema[k], last["model"][k]) for k in conv)  # an average, not the last step's
    train(TrainConfig(out=str(tmp_path), epochs=2, resume=True, **kw), log=lambda s: None)
    again = torch.load(tmp_path / "last.pt", weights_only=True)
    assert int(again["ema"]["n_averaged"]) == 2 * steps  # the average went on where it stopped
    assert all(0 <= float(r["raw_val_acc"]) <= 1 for r in _log(tmp_path))


def test_the_moving_average_follows_the_first_steps_then_keeps_its_decay():
    """The average's decay ramps up as (1 + n) / (10 + n) to --ema's value: the random initial weights do not
    linger in it (with 0.999 alone they were 20% of it after 4 epochs, and it answered one class for every face)."""
    from emorec.training.train import ema_update

    update = ema_update(0.999)
    avg, new = [torch.zeros(3), torch.zeros(1, dtype=torch.int64)], [torch.ones(3), torch.full((1,), 7)]
    update(avg, new, torch.tensor(1))
    assert torch.allclose(avg[0], torch.full((3,), 1 - 2 / 11)) and avg[1].item() == 7
    late = [torch.zeros(3)]
    update(late, [torch.ones(3)], torch.tensor(100_000))
    assert torch.allclose(late[0], torch.full((3,), 1 - 0.999))


def test_init_fine_tunes_from_an_earlier_runs_network(trained_run, tiny_csv, tmp_path):
    """--init CHECKPOINT starts from that run's network (a fresh optimiser and schedule): with a learning rate too
    small to move them, the weights after an epoch are the checkpoint's; without --init they are new ones."""
    source = torch.load(trained_run[0] / "best.pt", weights_only=True)["model"]
    kw = dict(data=str(tiny_csv), batch_size=32, lr=1e-12, epochs=1, progress=False, threads=1)
    train(TrainConfig(out=str(tmp_path / "tuned"), init=str(trained_run[0] / "best.pt"), **kw), log=lambda s: None)
    train(TrainConfig(out=str(tmp_path / "fresh"), **kw), log=lambda s: None)
    conv = [k for k, v in source.items() if v.ndim == 4]
    tuned = torch.load(tmp_path / "tuned" / "last.pt", weights_only=True)["model"]
    fresh = torch.load(tmp_path / "fresh" / "last.pt", weights_only=True)["model"]
    assert all(torch.allclose(tuned[k], source[k], atol=1e-6) for k in conv)
    assert not any(torch.allclose(fresh[k], source[k], atol=1e-3) for k in conv)
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init"] == str(trained_run[0] / "best.pt")
    from emorec.training.export import card_markdown, export_onnx

    card = json.loads(export_onnx(tmp_path / "tuned" / "best.pt", tmp_path / "t.onnx").with_suffix(".json").read_text())
    assert f"fine-tuned from {trained_run[0] / 'best.pt'}" in card_markdown(card)  # the card says where it started


def test_init_from_the_run_folder_it_overwrites_reads_the_checkpoint_first(trained_run, tiny_csv, tmp_path):
    """`--out RUN --init RUN/best.pt --overwrite` fine-tunes RUN's network, though --overwrite empties RUN."""
    import shutil

    run = tmp_path / "again"
    shutil.copytree(trained_run[0], run)
    source = torch.load(run / "best.pt", weights_only=True)["model"]
    train(TrainConfig(data=str(tiny_csv), out=str(run), init=str(run / "best.pt"), overwrite=True, lr=1e-12,
                      epochs=1, batch_size=32, progress=False, threads=1), log=lambda s: None)
    tuned = torch.load(run / "last.pt", weights_only=True)["model"]
    assert all(torch.allclose(tuned[k], v, atol=1e-6) for k, v in source.items() if v.ndim == 4)
    assert len(_log(run)) == 1  # the old run's log was replaced


def test_init_from_another_network_or_a_non_checkpoint_is_refused(trained_run, tiny_csv, tmp_path):
    other = _run(tiny_csv, "--out", tmp_path / "a", "--epochs", 1, "--arch", "mini_xception_x2",
                 "--init", trained_run[0] / "best.pt")
    assert other.returncode == 2 and "--init" in other.stderr and "holds mini_xception for" in other.stderr
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    bad = _run(tiny_csv, "--out", tmp_path / "b", "--epochs", 1, "--init", text)
    assert bad.returncode == 2 and f"{text}: not an emorec checkpoint" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "a" / "last.pt").exists() and not (tmp_path / "b" / "last.pt").exists()
