"""Degenerate families: groups of classes whose patterns no classifier can tell apart under the model card's
conventions, reported together with their summed probability (pure; no TensorFlow).

A family is named by its members in class order joined by ``|`` (``prism6|cylinder``); a class in no group is a
family of its own, named as the class. Every class belongs to exactly one family.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

#: Averaged over in-plane orientation a hexagonal prism scatters as a cylinder of 0.91× its circumscribed
#: diameter (the equal-area circle): ``tests/test_physics.py::test_random_prism6_is_a_cylinder_of_equal_area``.
DEFAULT_FAMILIES: tuple[tuple[str, ...], ...] = (("prism6", "cylinder"),)

Families = tuple[tuple[str, ...], ...]


def partition(class_names: Sequence[str], families: Families = DEFAULT_FAMILIES) -> tuple[tuple[str, ...], ...]:
    """Every class in exactly one group, in order of each group's first class; groups naming a class the model
    does not have are ignored, a class in two groups is an error."""
    groups: list[tuple[str, ...]] = []
    member_of: dict[str, int] = {}
    for group in families:
        kept = tuple(c for c in class_names if c in group)
        if len(kept) < 2 or len(kept) < len(group):
            continue
        for c in kept:
            if c in member_of:
                raise ValueError(f"class {c!r} is in two families")
            member_of[c] = len(groups)
        groups.append(kept)
    out: list[tuple[str, ...]] = []
    seen: set[int] = set()
    for c in class_names:
        if c not in member_of:
            out.append((c,))
        elif member_of[c] not in seen:
            seen.add(member_of[c])
            out.append(groups[member_of[c]])
    return tuple(out)


def family_name(group: Sequence[str]) -> str:
    return "|".join(group)


def family_of(class_name: str, groups: Sequence[Sequence[str]]) -> str:
    """The family name of ``class_name`` among ``partition`` groups."""
    for group in groups:
        if class_name in group:
            return family_name(group)
    raise ValueError(f"unknown class {class_name!r}")


def family_matrix(class_names: Sequence[str], groups: Sequence[Sequence[str]]) -> np.ndarray:
    """(n_classes, n_families) 0/1 matrix, read-only: probabilities @ matrix = family probabilities. Built once
    per (classes, groups): every row's family and answer go through it."""
    return _family_matrix(tuple(class_names), tuple(map(tuple, groups)))


@lru_cache(maxsize=16)
def _family_matrix(class_names: tuple[str, ...], groups: tuple[tuple[str, ...], ...]) -> np.ndarray:
    m = np.zeros((len(class_names), len(groups)))
    for j, group in enumerate(groups):
        for c in group:
            m[class_names.index(c), j] = 1.0
    m.flags.writeable = False
    return m


def ranked_families(probabilities: Sequence[float], class_names: Sequence[str],
                    groups: Sequence[Sequence[str]]) -> list[tuple[str, float]]:
    """(family, summed probability) from most to least probable."""
    summed = np.asarray(probabilities, float) @ family_matrix(class_names, groups)
    order = np.argsort(-summed, kind="stable")
    return [(family_name(groups[j]), float(summed[j])) for j in order]
