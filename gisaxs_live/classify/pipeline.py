"""Frames → Results: preprocessing on the model's grid, batched CNN inference, per-frame error capture."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .answer import answer_set
from .families import ranked_families
from .predictor import Predictor
from .size import SizeEstimate
from .size_net import estimates
from ..causes import in_words
from ..config import Config
from ..frame import Frame, FrameError
from ..preprocess.descriptors import descriptors
from ..preprocess.mirror import lopsided, mirror_message
from ..preprocess.prepare import FramePreprocessor, Prepared
from ..results import Result, latency_ms, utc_now
from ..sources.files import FileFrames

log = logging.getLogger(__name__)

#: a ``PreparedFrame``'s data: its pixels are let go once preprocessed
EMPTY_IMAGE = np.zeros((0, 0), np.int32)


@dataclass(frozen=True)
class Described:
    """A preprocessed frame and its model-free size descriptors (``preprocess.descriptors``; NaN unless ok)."""

    prepared: Prepared
    size: SizeEstimate


@dataclass(frozen=True)
class PreparedFrame(Frame):
    """A frame preprocessed before its ``classify`` (``Classifier.prepare_early``): its ``outcome`` in place of its
    detector image (``data`` is empty): about 7 kB instead of 4–18 MB, so that the frames of a multi-frame file
    wait for the CNN without their pixels."""

    outcome: Described | Result | None = None


class Classifier:
    """Loads the model once; ``classify`` turns any batch of frames into one Result each, never raising
    for a bad frame (it becomes an ``error`` or ``no_signal`` Result naming the cause). Frames of a batch
    are preprocessed on one thread per core (the regridding releases the GIL: 1.5× on 2 cores), unless
    the reader already did (``prepare_early``). Calling the Classifier is ``classify``."""

    def __init__(self, config: Config, model_dir: str | Path | None = None, threads: int | None = None,
                 warn_mismatch: bool = True):
        """``threads``: preprocessing threads (default: one per core); ``warn_mismatch``: log a warning when the
        model was trained for another experiment (False where the caller has said so once, e.g. Dask workers)."""
        self.predictor = Predictor(model_dir)
        info = self.predictor.info
        self.answer_cut = info.answer_cut  # read once: a malformed calibration stops the start
        self._class_names, self._families = info.class_names, info.families  # read once: 40 µs a frame
        self.mismatch = info.mismatch(config.experiment)
        if self.mismatch and warn_mismatch:
            log.warning(self.mismatch)
        self.preprocessor = FramePreprocessor(config, info.grid, info.decades)
        self._threads = ThreadPoolExecutor(threads or os.cpu_count() or 1, thread_name_prefix="preprocess")

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    def warm_up(self) -> None:
        """Trace the CNN with one dummy batch (about 0.5 s, once), load what the size descriptors use (scipy's
        peak finder, the substrate's optical constants) and build the detector's pixel → bin table where the
        geometry gives its shape, so that the first frame does not wait for them; a geometry that leaves every frame
        of that detector an error row is logged as an error."""
        grid = self.predictor.info.grid
        self.predictor.forward_all(np.zeros((1, *grid.shape), np.uint8))
        descriptors(np.ones(grid.shape), grid, self.preprocessor.config.experiment)
        problem = self.preprocessor.check_detector()
        if problem:
            log.error("geometry: %s: every frame of this detector will be an error row; check geometry.direct_beam_px "
                      "or the PONI file (gisaxs-live check-geometry shows a frame against it)", problem)

    @property
    def families(self) -> tuple[tuple[str, ...], ...]:
        return self._families

    def error(self, source: str, frame_id: int, message: str, t: float) -> Result:
        """An ``error`` Result for input that never became a Frame (unreadable file, malformed message)."""
        return Result(source, frame_id, "error", latency_ms=latency_ms(t), message=message, time_utc=utc_now(),
                      class_names=self.class_names, families=self.families)

    def prepare_early(self, frame: Frame) -> PreparedFrame:
        """``frame`` preprocessed now, on the calling thread, to be classified later in its place: a file reader
        does it right after decoding each frame, while its pixels are still in the CPU cache, in parallel with the
        other readers, and lets the pixels go, and the mean counts per bin once its size descriptors are taken from
        them: what it keeps is the model's image (6.3 kB)."""
        outcome = self._prepare(frame)
        if isinstance(outcome, Described):
            outcome = Described(replace(outcome.prepared, intensity=None), outcome.size)
        return PreparedFrame(EMPTY_IMAGE, frame.source, frame.frame_id, frame.t, outcome=outcome)

    def __call__(self, frames: Sequence[Frame]) -> list[Result]:
        return self.classify(frames)

    def classify(self, frames: Sequence[Frame]) -> list[Result]:
        """One Result per frame, in order; all usable frames go through the CNN together (``Predictor.forward_all``:
        in passes of at most 64)."""
        results: list[Result | None] = [None] * len(frames)
        images, positions = [], []
        early_outcomes = [frame.outcome if isinstance(frame, PreparedFrame) else None for frame in frames]
        late = [frame for frame, outcome in zip(frames, early_outcomes) if outcome is None]
        done_late = iter(self._threads.map(self._prepare, late) if len(late) > 1 else map(self._prepare, late))
        outcomes = [outcome if outcome is not None else next(done_late) for outcome in early_outcomes]
        for i, (frame, outcome) in enumerate(zip(frames, outcomes)):
            if isinstance(outcome, Result):
                results[i] = outcome
                continue
            prepared = outcome.prepared
            if prepared.status != "ok":
                results[i] = Result(frame.source, frame.frame_id, prepared.status, latency_ms=latency_ms(frame.t),
                                    message=prepared.message, time_utc=utc_now(), class_names=self.class_names,
                                    families=self.families, image=prepared.image)
                continue
            images.append(prepared.image)
            positions.append(i)
        if images:
            probabilities, features, size_outputs = self.predictor.forward_all(np.stack(images))
            net_sizes = None if size_outputs is None else estimates(self.predictor.size_info, size_outputs)
            scores = self.predictor.ood_scores(features)
            for j, (i, image, probs) in enumerate(zip(positions, images, probabilities)):
                frame, described = frames[i], outcomes[i]
                score = None if scores is None else float(scores[j])
                why_unknown = self._why_unknown(described.prepared.asymmetry, score)  # type: ignore[union-attr]
                model_free = described.size  # type: ignore[union-attr]
                size = model_free if net_sizes is None or why_unknown else replace(
                    net_sizes[j], corr_distance_nm=model_free.corr_distance_nm,
                    guinier_radius_nm=model_free.guinier_radius_nm)
                answer = () if why_unknown else answer_set(
                    ranked_families(probs, self.class_names, self.families), self.answer_cut)
                results[i] = Result(frame.source, frame.frame_id, "unknown" if why_unknown else "ok",
                                    tuple(float(p) for p in probs), latency_ms=latency_ms(frame.t),
                                    message=why_unknown, time_utc=utc_now(), class_names=self.class_names,
                                    families=self.families, ood_score=score, size=size, answer=answer, image=image)
        return results  # type: ignore[return-value]

    def _why_unknown(self, asymmetry: float | None, score: float | None) -> str:
        """Why a frame the CNN ranked is ``unknown`` ('' if it is not): its two halves disagree beyond
        ``geometry.max_asymmetry`` (``preprocess.mirror``: a wrong geometry), or its out-of-distribution score
        is above 1."""
        limit = self.preprocessor.config.geometry.max_asymmetry
        if lopsided(asymmetry, limit):
            return mirror_message(asymmetry, limit)  # type: ignore[arg-type]
        return unknown_message(score) if score is not None and score > 1.0 else ""

    def _prepare(self, frame: Frame) -> Described | Result:
        """The frame's model input with its model-free size descriptors, or the ``error`` Result saying why there
        is none."""
        try:
            prepared = self.preprocessor.prepare(frame)
            if prepared.status != "ok":
                return Described(prepared, SizeEstimate())
            corr_distance, rg = descriptors(prepared.intensity, self.preprocessor.grid,
                                            self.preprocessor.config.experiment)
            return Described(prepared, SizeEstimate(corr_distance_nm=corr_distance, guinier_radius_nm=rg))
        except FrameError as exc:
            return self.error(frame.source, frame.frame_id, str(exc), frame.t)
        except Exception as exc:  # a bug or an unforeseen input must not cost the other frames
            log.exception("preprocessing %s frame %d failed", frame.source, frame.frame_id)
            return self.error(frame.source, frame.frame_id, f"preprocessing failed: {in_words(exc)}", frame.t)


#: frames per CNN batch when classifying files
FILE_BATCH = 64
#: detector images of such a batch (bytes) beyond which it is classified without more frames: 64 frames of an Eiger 4M
#: are 1.2 GB, of a Pilatus 2M 630 MB, of a Pilatus 1M 260 MB
FILE_BATCH_BYTES = 1 << 28


def classify_files(classifier: Classifier, paths: Iterable[str | Path],
                   batch_size: int = FILE_BATCH) -> Iterator[list[Result]]:
    """Every frame of every file in order, classified in batches of ``batch_size`` (fewer once their images reach
    ``FILE_BATCH_BYTES``); a file whose reading stopped early (unreadable, truncated) adds one ``error`` row after
    the frames read before the problem. Yields each batch's Results as soon as they exist (``classify`` and
    ``reprocess`` write them as they come)."""
    batch: list[Frame] = []
    held = 0  # bytes of the batch's images
    for path in paths:
        reading = FileFrames(path, time.time())
        for frame in reading:  # a multi-frame file a batch at a time, never whole
            batch.append(frame)
            held += frame.data.nbytes
            if len(batch) >= batch_size or held >= FILE_BATCH_BYTES:
                yield classifier.classify(batch)
                batch, held = [], 0
        if reading.problem:
            if batch:
                yield classifier.classify(batch)
                batch, held = [], 0
            yield [classifier.error(str(path), reading.count, reading.problem, time.time())]
    if batch:
        yield classifier.classify(batch)


def unknown_message(score: float) -> str:
    return (f"unlike every class the model was trained on (ood_score {score:.2f} > 1): another shape, "
            f"no particles, or a wrong geometry")
