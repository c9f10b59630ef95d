"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The bundled model (its directory)."""
    from gisaxs_live.classify.modeldir import META, bundled_model_dir

    if not (bundled_model_dir() / META).exists():
        pytest.skip("no bundled model")
    return bundled_model_dir()
