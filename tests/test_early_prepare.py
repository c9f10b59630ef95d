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


def test_an_unforeseen_failure_is_a_row_in_words_not_a_class_name(monkeypatch):
    """A review: preprocessing that raised something unforeseen (numpy's LinAlgError in a fit) wrote
    "LinAlgError: SVD did not converge" into the row; the stream's classifier guard wrote "MemoryError: ..."."""
    import gisaxs_live.classify.pipeline as pipeline
    from gisaxs_live.causes import in_words
    from gisaxs_live.commands.stream import classify_guarded

    config = demo_config(load_config())
    frames = [Frame(GrowthSeries(config, 4).frame(2), "frame2.cbf", 0, 0.0)]
    classifier = Classifier(config)

    def unforeseen(*_args):
        raise np.linalg.LinAlgError("SVD did not converge in Linear Least Squares")

    monkeypatch.setattr(pipeline, "descriptors", unforeseen)
    [row] = classifier.classify(frames)
    assert (row.status, row.message) == ("error", "preprocessing failed: SVD did not converge in Linear Least Squares")

    def out_of_memory(_frames):
        raise MemoryError()

    monkeypatch.setattr(classifier, "classify", out_of_memory)
    [row] = classify_guarded(classifier, frames)
    assert (row.status, row.message) == ("error", "classifier failed: out of memory")
    assert in_words(ValueError()) == "no cause given" and in_words(KeyError("x")) == "'x'"


def test_frames_prepared_early_and_never_classified_do_not_pile_up(monkeypatch):
    """A review: a reader given up (its read ran past the daemon's timeout) that ends later prepares frames that no
    classify takes; each held its detector image in the classifier for good."""
    import gisaxs_live.classify.pipeline as pipeline

    monkeypatch.setattr(pipeline, "EARLY_MAX", 4)
    config = demo_config(load_config())
    image = GrowthSeries(config, 2).frame(1)
    classifier = Classifier(config)
    forgotten = [Frame(image, f"late{i}.cbf", 0, 0.0) for i in range(6)]
    classifier.prepare_early(forgotten)
    assert len(classifier._early) == 4
    fresh = Frame(image, "fresh.cbf", 0, 0.0)
    classifier.prepare_early([fresh])
    assert id(fresh) in classifier._early and id(forgotten[2]) not in classifier._early
    [row] = classifier.classify([forgotten[0]])  # dropped: prepared again, the same answer
    assert row.status == classifier.classify([fresh])[0].status
