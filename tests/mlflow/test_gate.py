"""The promotion gate as a pure function: numbers in, decision out."""

from __future__ import annotations

import math

import pytest

from energy.lifecycle.promotion import Protocol, is_performance_improved, version_tags

pytestmark = pytest.mark.unit


def m(overall: float, **cities: float) -> dict:
    return {"overall": {"mape": overall}, "per_city": {c: {"mape": v} for c, v in cities.items()}}


def test_first_version_becomes_champion():
    d = is_performance_improved(m(5.0, a=5.0), None)
    assert d.promote and "first version" in d.reason


def test_better_challenger_is_accepted():
    d = is_performance_improved(m(4.0, a=4.0, b=4.0), m(5.0, a=5.0, b=5.0), margin=0.01)
    assert d.promote
    assert d.improvement == pytest.approx(0.2)
    assert (d.challenger, d.champion) == (4.0, 5.0)


def test_worse_challenger_is_rejected():
    d = is_performance_improved(m(5.5, a=5.5), m(5.0, a=5.0))
    assert not d.promote
    assert d.improvement == pytest.approx(-0.1)
    assert "below the required margin" in d.reason


def test_improvement_below_margin_is_rejected():
    d = is_performance_improved(m(4.95, a=4.95), m(5.0, a=5.0), margin=0.02)
    assert not d.promote and "below the required margin 2.00%" in d.reason
    assert is_performance_improved(m(4.95, a=4.95), m(5.0, a=5.0), margin=0.0).promote


def test_city_regression_blocks_promotion():
    # 20 % better overall, but city b is 10 % worse: beyond a 5 % tolerance
    d = is_performance_improved(
        m(4.0, a=2.0, b=5.5), m(5.0, a=5.0, b=5.0), margin=0.01, city_tolerance=0.05
    )
    assert not d.promote
    assert set(d.regressions) == {"b"}
    assert d.regressions["b"]["worse_by"] == pytest.approx(0.1)
    assert "b: 5.5 vs 5" in d.reason
    # within a 15 % tolerance the same numbers pass
    assert is_performance_improved(
        m(4.0, a=2.0, b=5.5), m(5.0, a=5.0, b=5.0), city_tolerance=0.15
    ).promote


def test_city_missing_from_challenger_counts_as_regression():
    d = is_performance_improved(m(4.0, a=4.0), m(5.0, a=5.0, b=5.0))
    assert not d.promote and "b" in d.regressions


def test_challenger_without_finite_metric_is_rejected():
    assert not is_performance_improved(m(math.nan, a=1.0), m(5.0, a=5.0)).promote
    assert not is_performance_improved({"overall": {}}, None).promote


def test_higher_is_better_for_r2():
    better = {"overall": {"r2": 0.95}, "per_city": {}}
    worse = {"overall": {"r2": 0.90}, "per_city": {}}
    assert is_performance_improved(better, worse, metric="r2").promote
    assert not is_performance_improved(worse, better, metric="r2").promote


def test_protocol_id_and_version_tags():
    p = Protocol("abc", ("a", "b"), "2020-02-23T00:00:00+00:00", "2020-03-01T00:00:00+00:00", 24)
    q = Protocol("abc", ("a", "b"), "2020-02-24T00:00:00+00:00", "2020-03-01T00:00:00+00:00", 24)
    assert p.id != q.id and len(p.id) == 16
    meta = {
        "config_name": "tiny",
        "train_kind": "ensemble",
        "data_hash": "abc",
        "metrics": m(4.0, a=3.0, b=5.0),
        "protocol": p.as_dict(),
    }
    tags = version_tags(meta)
    assert tags["protocol_id"] == p.id and tags["metric.mape"] == "4"
    assert tags["per_city.mape"] == '{"a": 3.0, "b": 5.0}'
    assert tags["config_name"] == "tiny" and tags["data_hash"] == "abc"
