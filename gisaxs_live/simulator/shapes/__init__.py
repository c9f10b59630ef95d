"""The eight particle shapes in their fixed class order: the index in SHAPES is the model's label."""

from __future__ import annotations

from . import capsule, cylinder, ellipsoid, hemispheroid, prism3, prism6, spheroid, truncated_spheroid
from ._table import Parameter, ShapeModel

SHAPES: tuple[ShapeModel, ...] = (
    capsule.shape,
    spheroid.shape,
    ellipsoid.shape,
    truncated_spheroid.shape,
    hemispheroid.shape,
    prism3.shape,
    prism6.shape,
    cylinder.shape,
)
CLASS_NAMES: tuple[str, ...] = tuple(s.name for s in SHAPES)


def get_shape(name: str) -> ShapeModel:
    """The shape called ``name``; an unknown name is an error listing the known ones."""
    for s in SHAPES:
        if s.name == name:
            return s
    raise ValueError(f"unknown particle shape {name!r}; known: {', '.join(CLASS_NAMES)}")


__all__ = ["SHAPES", "CLASS_NAMES", "get_shape", "Parameter", "ShapeModel"]
