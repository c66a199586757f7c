"""energy.config: one typed experiment config, parsed once from YAML; errors name the bad key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from energy.cli.main import main
from energy.config.errors import ConfigError
from energy.config.experiment import ExperimentConfig, load_config, profiles
from energy.models.configs import LSTMConfig, SeasonalNaiveConfig, XGBoostConfig
from energy.models.kinds import model_class

pytestmark = pytest.mark.unit


def _load(tmp_path: Path, text: str) -> ExperimentConfig:
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return load_config(p)


@pytest.mark.parametrize("name", ["cpu", "seed", "seed_init"])
def test_profiles_load_typed_and_round_trip_through_config_show(name: str, capsys) -> None:
    cfg = load_config(name)
    assert name in profiles() and cfg.name == name
    assert isinstance(cfg.models["xgboost"], XGBoostConfig)
    assert isinstance(cfg.models["lstm"], LSTMConfig)
    # the xgboost block sets its own features; the others inherit the shared ones
    assert 336 in (cfg.models["xgboost"].features.lags or ())
    assert cfg.models["lstm"].features == cfg.features
    with pytest.raises(SystemExit) as done:
        main(["config", "show", name])
    shown = capsys.readouterr().out
    assert done.value.code == 0
    assert shown.startswith(f"name: {name}\n") and "    kind: transformer\n" in shown
    assert "\nensemble:\n  method: " in shown and "  lags: [24, 48, 72, 168]\n" in shown
    assert ExperimentConfig.model_validate(yaml.safe_load(shown)) == cfg
    # the model's own Config class is the member's class: one definition
    assert model_class("xgboost").Config is XGBoostConfig


def test_reading_a_profile_imports_neither_torch_nor_xgboost() -> None:
    code = (
        "import sys; from energy.config.experiment import load_config; load_config('cpu'); "
        "print(sorted(m for m in ('torch', 'xgboost') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_kind_defaults_to_the_name_and_members_inherit_seed_and_features(tmp_path) -> None:
    cfg = _load(
        tmp_path,
        "seed: 7\nfeatures: {lags: [24, 168]}\nscope: per_city\n"
        "models:\n  xgboost: {n_estimators: 5}\n  deep: {kind: xgboost, max_depth: 9, seed: 1}\n",
    )
    assert [m.kind for m in cfg.models.values()] == ["xgboost", "xgboost"]
    assert cfg.models["xgboost"].seed == 7 and cfg.models["deep"].seed == 1
    assert cfg.models["deep"].features.lags == (24, 168)
    members = cfg.ensemble_config()["members"]
    assert members["deep"] == {"kind": "xgboost", "config": cfg.models["deep"].model_dump()}
    spec = cfg.model_spec("deep")
    assert spec.kind == "per_city" and spec.config["model"]["config"]["max_depth"] == 9
    baseline = cfg.member("seasonal_naive")
    assert isinstance(baseline, SeasonalNaiveConfig) and baseline.seed == 7
    assert cfg.baseline_configs()["seasonal_naive"]["seed"] == 7
    with pytest.raises(ValueError, match=r"--model: 'lstm' is not in this config"):
        cfg.member("lstm")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("horizn: 24\n", "horizn: Extra inputs are not permitted (got 24)"),
        ("features: {lagz: [24]}\n", "features.lagz: Extra inputs are not permitted"),
        ("models:\n  xgboost: {max_dept: 3}\n", "models.xgboost.max_dept: Extra inputs"),
        ("models:\n  lstm: {features: {horizn: 24}}\n", "models.lstm.features.horizn: Extra"),
        ("models:\n  lstm: {epochs: 0}\n", "models.lstm.epochs: Input should be greater than"),
        ("ensemble: {methd: mean}\n", "ensemble.methd: Extra inputs are not permitted"),
        ("backtest: {fold: 3}\n", "backtest.fold: Extra inputs are not permitted"),
        ("promotion: {margn: 0.1}\n", "promotion.margn: Extra inputs are not permitted"),
        ("models:\n  xgbost: {}\n", "models.xgbost: unknown model kind 'xgbost'"),
        ("models:\n  a: {kind: lsmt}\n", "models.a: unknown model kind 'lsmt'"),
        ("baselines: [naive]\n", "baselines: unknown model kind 'naive'"),
        ("models:\n  lstm: {lookback: 24}\n", "models.lstm.lookback: 24 h is shorter than"),
        ("backtest: {mode: sliding}\n", "backtest.train_days: required when"),
        ("features: [1\n", "is not valid YAML"),
    ],
)
def test_a_bad_key_anywhere_is_one_error_naming_its_path(tmp_path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, text)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_config_show_errors_are_one_line_with_status_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: {lagz: [24]}\nmodels:\n  lstm: {lookbak: 3}\n")
    with pytest.raises(SystemExit) as e:
        main(["config", "show", str(bad)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1
    # the member inherits the bad shared features block: reported once, at its own path
    assert err[0] == (
        "error: features.lagz: Extra inputs are not permitted; "
        "models.lstm.lookbak: Extra inputs are not permitted (got 3)"
    )
    with pytest.raises(SystemExit):
        main(["config", "show", "nosuch"])
    assert "--config: 'nosuch' does not exist" in capsys.readouterr().err
