"""The daemon's readers preprocess frames right after decoding them (``Classifier.prepare_early``); the
batch classified afterwards must come out exactly as if ``classify`` had preprocessed it, frames not
prepared early included, and nothing may stay behind in the classifier."""

from __future__ import annotations

import numpy as np

from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config
from gisaxs_live.frame import Frame
from gisaxs_live.classify.pipeline import Classifier


def test_early_preparation_gives_the_same_results():
    config = demo_config(load_config())
    series = GrowthSeries(config, 4)  # frames 1-3: the first sits at the out-of-distribution threshold
    frames = [Frame(series.frame(i), f"frame{i}.cbf", 0, 0.0) for i in range(1, 4)]
    frames.append(Frame(np.ones((10, 10), np.int32), "small.cbf", 0, 0.0))  # an error row
    classifier = Classifier(config)
    plain = classifier.classify(frames)
    classifier.prepare_early(frames[1:])  # the first one is left to classify
    early = classifier(frames)
    assert [r.status for r in early] == [r.status for r in plain] == ["ok", "ok", "ok", "error"]
    for a, b in zip(plain, early):
        assert a.probabilities == b.probabilities and a.message == b.message
        assert (a.image is None and b.image is None) or np.array_equal(a.image, b.image)
    assert not classifier._early
