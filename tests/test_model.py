"""The CNN's layer shapes and size (the paper's Table 1), and the evaluation arithmetic."""

import numpy as np
import pytest

from gisaxs_live.training.evaluate import confusion_matrix, metrics
from gisaxs_live.training.similarity import nearest_neighbour_labels


def test_paper_network_layer_shapes():
    from gisaxs_live.classify.model import build_model

    model = build_model("paper", (90, 70), 8)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (90, 70, 32)
    assert shapes["pool1"] == (23, 18, 32)
    assert shapes["conv2"] == (23, 18, 64)
    assert shapes["pool2"] == (6, 5, 64)
    assert shapes["flatten"] == (1920,)
    assert shapes["dense"] == (512,)
    assert shapes["probabilities"] == (8,)
    # 4·4·32+32 + 4·4·32·64+64 + 1920·512+512 + 512·8+8
    assert model.count_params() == 544 + 32832 + 983552 + 4104
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet", (90, 70), 8)


def test_deep_network_layer_shapes_and_the_layers_the_ood_score_reads():
    from gisaxs_live.classify.model import build_model
    from gisaxs_live.classify.predictor import CONV_LAYER, FEATURE_LAYER

    model = build_model("deep", (90, 70), 8)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["pool1"] == (45, 35, 16)
    assert shapes["conv2_2"] == (45, 35, 32)
    assert shapes["pool3"] == (12, 9, 64)
    assert shapes["flatten"] == (6912,)
    assert shapes[FEATURE_LAYER] == (256,) and shapes[CONV_LAYER] == (45, 35, 32)
    assert shapes["probabilities"] == (8,)
    # conv1 + row/column bias + 3·3·16·32+32 + 3·3·32·32+32 + 3·3·32·64+64 + 3·3·64·64+64 + dense + output
    assert model.count_params() == (160 + (90 + 70) * 16 + 4640 + 9248 + 18496 + 36928 + 6912 * 256 + 256
                                    + 256 * 8 + 8)


def test_confusion_columns_are_actual_classes():
    actual = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 1, 0])
    c = confusion_matrix(actual, predicted, 3)
    np.testing.assert_allclose(c[:, 0], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(c[:, 1], [0, 1, 0])
    np.testing.assert_allclose(c[:, 2], [1, 0, 0])


def test_metrics_mean_of_per_class_and_top2():
    names = ("a", "b", "c")
    labels = np.array([0, 0, 1, 2])
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]])
    m = metrics(probs, labels, names, similarity_labels=np.array([0, 0, 0, 2]))
    assert m["per_class"] == {"a": 50.0, "b": 100.0, "c": 0.0}
    assert m["top1"] == pytest.approx(50.0)
    assert m["top2"] == pytest.approx((50 + 100 + 100) / 3)  # sample 2 has its class only third
    assert m["similarity_top1"] == pytest.approx((100 + 0 + 100) / 3)
    assert m["n_test"] == 4


def test_similarity_baseline_finds_the_correlated_image():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (5, 9, 7)).astype(np.uint8)
    labels = np.arange(5)
    test = np.clip(train[[3, 1]].astype(int) // 2 + 20, 0, 255).astype(np.uint8)  # same patterns, rescaled
    assert nearest_neighbour_labels(train, labels, test).tolist() == [3, 1]
