"""A small real training run: simulate a few patterns per class, train, and beat chance by far."""

import numpy as np
import pytest

from gisaxs_live.config import load_config
from gisaxs_live.simulator.dataset import random_specs, simulate_specs
from gisaxs_live.simulator.shapes import CLASS_NAMES
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.training.augment import Realism
from gisaxs_live.training.train import TrainSettings, train_classifier


def test_small_training_run_reaches_well_above_chance():
    config = load_config()
    specs = random_specs(per_class=60, seed=3, test_fraction=0.25)
    intensity = np.stack(list(simulate_specs(specs, config, workers=1)))
    labels = np.array([s.label for s in specs])
    test = np.array([s.test for s in specs])
    gentle = Realism(peak_counts=(1e4, 1e6), p_clean=0.5)
    model, reports = train_classifier(intensity[~test], labels[~test], to_levels(intensity[test], 5.0), labels[test],
                                      len(CLASS_NAMES), 5.0, TrainSettings(max_epochs=15, seed=1), gentle)
    assert 1 <= len(reports) <= 15
    best = min(reports, key=lambda r: r.val_loss)
    chance = 1.0 / len(CLASS_NAMES)
    assert best.val_accuracy > 3 * chance  # 37.5 %; a broken pipeline stays near 12.5 %
    probabilities = model.predict(to_levels(intensity[test], 5.0)[..., None] / 255.0, verbose=0)
    # the returned model carries the best epoch's weights
    assert np.mean(np.argmax(probabilities, axis=1) == labels[test]) == pytest.approx(best.val_accuracy, abs=1e-6)
