"""The daemon's readers preprocess frames right after decoding them (``Classifier.prepare_early``); the
batch classified afterwards must come out exactly as if ``classify`` had preprocessed it, frames not
prepared early included, and the frames prepared hold no pixels."""

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
    prepared = [frames[0]] + [classifier.prepare_early(f) for f in frames[1:]]  # the first one is left to classify
    assert all(f.data.size == 0 for f in prepared[1:])  # the pixels let go
    early = classifier(prepared)
    assert [r.status for r in early] == [r.status for r in plain] == ["ok", "ok", "ok", "error"]
    for a, b in zip(plain, early):
        assert a.probabilities == b.probabilities and a.message == b.message
        assert (a.image is None and b.image is None) or np.array_equal(a.image, b.image)


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


def test_a_multi_frame_file_is_read_classified_and_passed_through_the_network_in_bounded_memory(tmp_path, monkeypatch):
    """A 200-frame Pilatus 1M stack took `watch` 1.94 GB and `classify` 1.76 GB (a single frame: 0.8 GB): the
    daemon's reader held every frame's pixels until its batch was classified, `classify` read a file whole, and the
    network took a batch of any size in one pass (1.7 GB of activations for 1,000 frames). A 1,000-frame Eiger 4M
    data file would have ended the monitor out of memory at every restart. Now the reader keeps each frame's
    preprocessed form alone, `classify_files` bounds a batch's pixels, and the network runs in passes of at most
    FORWARD_BATCH images, with the same answers."""
    import tracemalloc

    import gisaxs_live.classify.pipeline as pipeline
    import gisaxs_live.classify.predictor as predictor
    from gisaxs_live.daemon import _read
    from gisaxs_live.sources.watch import Arrival
    from livehelp import nexus_stack

    config = demo_config(load_config())
    series = GrowthSeries(config, 4)
    images = [series.frame(i) for i in range(1, 4)]
    path = nexus_stack(tmp_path / "stack.h5", images, 24)
    classifier = Classifier(config)
    alone = classifier.classify([Frame(image, str(path), i, 0.0) for i, image in enumerate(images)])
    tracemalloc.start()
    try:
        read = _read(Arrival(str(path), 0.0), classifier, 0, None, lambda _: False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (read.n_read, read.problem) == (24, None) and [f.frame_id for f in read.frames] == list(range(24))
    assert all(f.data.size == 0 for f in read.frames)
    assert peak < 8 * images[0].nbytes  # whole: 24 frames' pixels
    monkeypatch.setattr(predictor, "FORWARD_BATCH", 5)  # 24 frames: passes of 5, 5, 5, 5 and 4
    rows = classifier(read.frames)
    assert np.allclose([r.probabilities for r in rows], [alone[i % 3].probabilities for i in range(24)], atol=1e-6)
    monkeypatch.setattr(pipeline, "FILE_BATCH_BYTES", 2.5 * images[0].nbytes)
    batches = list(pipeline.classify_files(classifier, [path]))
    assert [len(b) for b in batches] == [3] * 8
    assert np.allclose([r.probabilities for b in batches for r in b], [r.probabilities for r in rows], atol=1e-6)
