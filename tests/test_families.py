"""Degenerate families in every answer: the partition, the summed probability, and the CSV round trip."""

from __future__ import annotations

import csv
import io

import pytest

from gisaxs_live.classify.families import DEFAULT_FAMILIES, family_of, partition, ranked_families
from gisaxs_live.results import Result, csv_columns
from gisaxs_live.simulator.shapes import CLASS_NAMES


def probabilities(**p: float) -> tuple[float, ...]:
    return tuple(p.get(c, 0.0) for c in CLASS_NAMES)


def test_every_class_is_in_exactly_one_family():
    groups = partition(CLASS_NAMES)
    members = [c for g in groups for c in g]
    assert sorted(members) == sorted(CLASS_NAMES) and len(members) == len(CLASS_NAMES)
    assert ("prism6", "cylinder") in groups
    assert family_of("cylinder", groups) == "prism6|cylinder" and family_of("capsule", groups) == "capsule"


def test_a_class_in_two_families_is_refused():
    with pytest.raises(ValueError, match="in two families"):
        partition(CLASS_NAMES, (("prism6", "cylinder"), ("cylinder", "spheroid")))


def test_the_family_can_win_where_no_member_does():
    # spheroid is the top class, but prism6 and cylinder together are more probable
    p = probabilities(spheroid=0.45, cylinder=0.30, prism6=0.25)
    ranked = ranked_families(p, CLASS_NAMES, partition(CLASS_NAMES))
    assert ranked[0] == ("prism6|cylinder", pytest.approx(0.55))
    assert ranked[1] == ("spheroid", pytest.approx(0.45))
    result = Result("a.cbf", 1, "ok", p)
    assert result.ranked()[0][0] == "spheroid"
    assert result.family() == ("prism6|cylinder", pytest.approx(0.55))


def test_row_carries_the_family_and_parses_back():
    p = probabilities(prism6=0.6, cylinder=0.3, spheroid=0.1)
    row = Result("a.cbf", 1, "ok", p, ood_score=3.25).row()
    fields = dict(zip(csv_columns(), row))
    assert (fields["family"], fields["p_family"], fields["top1"]) == ("prism6|cylinder", "0.9000", "prism6")
    assert fields["ood_score"] == "3.25"
    back = Result.from_row(fields)
    assert back.family() == ("prism6|cylinder", pytest.approx(0.9)) and back.ood_score == pytest.approx(3.25)


def test_unknown_rows_keep_the_ranking_but_name_no_family():
    row = dict(zip(csv_columns(), Result("x.cbf", 2, "unknown", probabilities(capsule=1.0), ood_score=40.0,
                                         message="unlike every class").row()))
    assert row["status"] == "unknown" and row["family"] == "" and row["top1"] == "capsule"
    assert Result.from_row(row).probabilities == probabilities(capsule=1.0)


def test_a_log_written_before_the_family_column_still_parses():
    old = (["time_utc", "source", "frame", "status", "top1", "p1", "top2", "p2"]
           + [f"p_{c}" for c in CLASS_NAMES] + ["latency_ms", "message"])
    values = ["2026-11-25T03:04:05.678Z", "a.cbf", "3", "ok", "cylinder", "0.5000", "prism6", "0.4000",
              *[{"cylinder": "0.5000", "prism6": "0.4000", "spheroid": "0.1000"}.get(c, "0.0000") for c in CLASS_NAMES],
              "12.0", ""]
    text = ",".join(old) + "\n" + ",".join(values) + "\n"
    row = next(csv.DictReader(io.StringIO(text)))
    assert Result.from_row(row).family() == ("prism6|cylinder", pytest.approx(0.9))


def test_default_families_name_only_known_classes():
    assert all(set(g) <= set(CLASS_NAMES) for g in DEFAULT_FAMILIES)
