"""One preprocessing for training and inference: the same pixels give the same model input."""

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
