"""One preprocessing for training and inference: the same pixels give the same model input."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from emorec.preprocess import preprocess, to_grey_uint8
from conftest import synthetic_faces


def test_scaling_to_minus_one_one():
    x = preprocess(np.array([[[0, 255], [51, 102]]], dtype=np.uint8), size=2)
    assert x.dtype == np.float32 and x.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(x[0, 0], [[-1, 1], [-0.6, -0.2]], atol=1e-6)


def test_batch_single_list_and_colour_agree():
    faces, _ = synthetic_faces(3)
    batch = preprocess(faces)
    np.testing.assert_array_equal(preprocess(faces[0]), batch[:1])
    np.testing.assert_array_equal(preprocess(list(faces)), batch)
    bgr = np.stack([cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in faces])
    np.testing.assert_array_equal(preprocess(bgr), batch)
    bgra = cv2.cvtColor(faces[0], cv2.COLOR_GRAY2BGRA)
    np.testing.assert_array_equal(preprocess(bgra), batch[:1])


def test_other_sizes_and_dtypes_are_converted():
    face = synthetic_faces(1)[0][0]
    big = cv2.resize(face, (96, 96), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_allclose(preprocess(big), preprocess(face), atol=1e-6)  # area-downscale of 2x2 blocks
    sixteen = face.astype(np.uint16) * 257
    np.testing.assert_array_equal(preprocess(sixteen), preprocess(face))
    as_float = face.astype(np.float32) / 255
    np.testing.assert_allclose(preprocess(as_float), preprocess(face), atol=2 / 255)
    assert preprocess(face, size=64).shape == (1, 1, 64, 64)


SAMPLE = Path(__file__).resolve().parents[1] / "src" / "emorec" / "assets" / "astronaut.jpg"


def sample_crop(h, w, channels=3):
    """A real photo's pixels around the astronaut's face, cut (not resized) to h x w."""
    img = cv2.imread(str(SAMPLE))
    crop = img[40:40 + h, 140:140 + w]
    assert crop.shape[:2] == (h, w)
    if channels == 1:
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return crop if channels == 3 else cv2.cvtColor(crop, cv2.COLOR_BGR2BGRA)


def reference_input(crop, size=48):
    """Model input computed without emorec: OpenCV grey conversion, area resize, x / 255 * 2 - 1 in float64."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY if crop.shape[2] == 3 else
                                                    cv2.COLOR_BGRA2GRAY)
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64) / 255 * 2 - 1


@pytest.mark.parametrize("h, w, channels", [(96, 96, 1), (100, 100, 1), (73, 61, 1), (150, 200, 3), (120, 120, 4),
                                            (400, 300, 3)])
def test_resize_path_equals_an_independent_area_resize(h, w, channels):
    """Crops of other sizes (what the face detector gives inference) go through the resize path."""
    crop = sample_crop(h, w, channels)
    x = preprocess(crop)
    assert x.shape == (1, 1, 48, 48) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], reference_input(crop), atol=1e-6)


def test_a_list_of_crops_of_mixed_sizes_is_resized_each():
    crops = [sample_crop(96, 96, 1), sample_crop(48, 48, 1), sample_crop(130, 110, 3)]
    x = preprocess(crops)
    assert x.shape == (3, 1, 48, 48)
    for row, crop in zip(x, crops):
        np.testing.assert_allclose(row[0], reference_input(crop), atol=1e-6)


@pytest.mark.parametrize("side", [48, 61, 96, 200, 30])  # 30: upscaled, linear on both paths
def test_image_folder_training_input_equals_inference_input(tmp_path, side):
    """The same face file gives the same model input whether training loads it (image folder -> uint8 48x48
    -> the training loop's scaling) or inference reads and classifies it (read_image -> preprocess)."""
    torch = pytest.importorskip("torch")
    from emorec.data import read_image_folder
    from emorec.images import read_image
    from emorec.training.train import to_input

    path = tmp_path / "faces" / "happy" / f"face{side}.png"
    path.parent.mkdir(parents=True)
    cv2.imwrite(str(path), sample_crop(side, side, 3))
    data = read_image_folder(tmp_path / "faces")
    assert data.images.shape == (1, 48, 48) and data.classes[data.labels[0]] == "happy"
    training = to_input(torch.from_numpy(data.images).unsqueeze(1)).numpy()
    inference = preprocess(read_image(path))
    np.testing.assert_allclose(training, inference, atol=1e-6)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        preprocess(np.zeros(10, dtype=np.uint8))
    with pytest.raises(ValueError):
        to_grey_uint8(np.zeros((4, 4, 5), dtype=np.uint8))


def test_training_and_inference_see_the_same_input(trained_run, tiny_csv):
    """The tensors the training loop builds equal what EmotionClassifier feeds its exported model,
    so the exported model reproduces the PyTorch model's predictions on the training data."""
    torch = pytest.importorskip("torch")
    from emorec.classifier import EmotionClassifier
    from emorec.training.export import export_onnx, load_checkpoint
    from emorec.training.train import TrainConfig, _split_data

    run, _ = trained_run
    train_set, _ = _split_data(TrainConfig(data=str(tiny_csv)))
    model, _ = load_checkpoint(run / "best.pt")
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(preprocess(train_set.images[:64]))), 1).numpy()
    clf = EmotionClassifier(export_onnx(run / "best.pt", run / "parity.onnx"))
    np.testing.assert_allclose(clf.predict(train_set.images[:64]), ref, atol=1e-5)
