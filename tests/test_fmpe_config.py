"""The settings of fmpe / fmpe_vp: validation names the field, "auto" resolves by budget, registration."""

from __future__ import annotations

import pytest

from fmbench.fmpe.config import FmpeConfig, FmpeVpConfig
from fmbench.fmpe.path import OTPath, VPPath
from fmbench.fmpe.selection import Candidates
from fmbench.fmpe.tiers import BUDGET_TIERS, BY_BUDGET, GLU_MIN_X_DIM, tier_for
from fmbench.method import ConfigError
from fmbench.registry import get_method, method_names


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"hidden_features": []}, "hidden_features"),
        ({"hidden_features": (64, 0)}, "hidden_features"),
        ({"hidden_features": "64,x"}, "hidden_features"),
        ({"conditioning": "film"}, "conditioning"),
        ({"activation": "tanhh"}, "activation"),
        ({"time_prior_exponent": -1.0}, "time_prior_exponent"),
        ({"time_prior_exponent": "fast"}, "time_prior_exponent"),
        ({"time_prior_exponent": "1,-2"}, "time_prior_exponent"),
        ({"time_prior_exponent": []}, "time_prior_exponent"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "big"}, "batch_size"),
        ({"max_epochs": -3}, "max_epochs"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"validation_repeats": 0}, "validation_repeats"),
        ({"lr_decay_factor": 1.5}, "lr_decay_factor"),
        ({"lr_patience": -1}, "lr_patience"),
        ({"early_stopping_patience": 2.5}, "early_stopping_patience"),
        ({"solver": "heun"}, "solver"),
        ({"log_prob_solver": "heun"}, "log_prob_solver"),
        ({"steps": 0}, "steps"),
        ({"atol": 0.0}, "atol"),
        ({"rtol": -1e-3}, "rtol"),
        ({"divergence": "trace"}, "divergence"),
        ({"sigma_min": 1.0}, "sigma_min"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": "some"}, "dropout"),
    ],
)
def test_bad_settings_raise_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        FmpeConfig.from_overrides(overrides)  # as --set gives them
    with pytest.raises(ConfigError, match=f"^{field}:"):
        FmpeConfig(**overrides)  # typed construction rejects the raw values too


@pytest.mark.parametrize(
    "overrides, field",
    [({"beta_min": 0.0}, "beta_min"), ({"beta_max": 0.05}, "beta_max"), ({"vp_eps": 0.0}, "vp_eps")],
)
def test_bad_vp_settings_raise_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        FmpeVpConfig(**overrides)


def test_unknown_setting_is_rejected_with_the_valid_names() -> None:
    with pytest.raises(ConfigError, match="sigma_mn.*valid: .*sigma_min"):
        get_method("fmpe", {"sigma_mn": 0.1})
    with pytest.raises(ConfigError, match="sigma_min"):
        get_method("fmpe_vp", {"sigma_min": 0.1})  # the VP path has no sigma_min


def test_hidden_features_are_read_from_strings_and_lists() -> None:
    from_text = FmpeConfig.from_overrides({"hidden_features": "32,64"})
    from_json = FmpeConfig.from_overrides({"hidden_features": [32, 64]})
    assert (
        from_text.hidden_features
        == from_json.hidden_features
        == FmpeConfig(hidden_features=(32, 64)).hidden_features
    )
    assert from_text.hash() == from_json.hash()


def test_auto_and_several_values_are_types_not_strings() -> None:
    config = FmpeConfig.from_overrides(
        {"max_epochs": "auto", "batch_size": "64,256", "time_prior_exponent": 4}
    )
    assert config.max_epochs is BY_BUDGET and FmpeConfig().hidden_features is BY_BUDGET
    assert config.batch_size == Candidates((64, 256)) and config.time_prior_exponent == 4.0
    assert config.to_dict()["batch_size"] == [64, 256] and config.to_dict()["max_epochs"] == "auto"
    assert FmpeConfig.from_overrides(config.to_dict()) == config  # the recorded JSON reads back


def test_auto_resolves_by_budget_and_observation_size() -> None:
    config = FmpeConfig()
    for budget in (1_000, 10_000, 100_000):
        resolved = config.resolved(budget, x_dim=2)
        tier = tier_for(budget)
        assert (resolved.hidden_features, resolved.batch_size, resolved.max_epochs) == (
            tier.hidden_features,
            tier.batch_size,
            tier.max_epochs,
        )
        assert (resolved.lr_patience, resolved.early_stopping_patience) == (
            tier.lr_patience,
            tier.early_stopping_patience,
        )
        assert resolved.time_prior_exponent == tier.time_prior_exponent
        assert resolved.conditioning == tier.conditioning_for(2)
        assert resolved.halving_epochs == tier.halving_epochs
    assert [tier_for(b) for b in (1_000, 10_000, 100_000)] == list(BUDGET_TIERS)
    assert config.resolved(1_000, x_dim=GLU_MIN_X_DIM).conditioning == "glu"
    explicit = FmpeConfig(
        hidden_features=(8,),
        batch_size=7,
        max_epochs=3,
        conditioning="concat",
        lr_patience=2,
        early_stopping_patience=4,
        time_prior_exponent=2.0,
        halving_epochs=5,
    )
    assert explicit.resolved(100_000, x_dim=100) == explicit
    assert config.resolved(1_000, 2).hash() != config.hash()  # the stored hash is the unresolved one


def test_a_change_of_the_budget_tiers_changes_the_hash(monkeypatch) -> None:
    import dataclasses

    import fmbench.fmpe.tiers as tiers_module

    before = {budget: FmpeConfig().hash(budget) for budget in (None, 1_000, 10_000)}
    tiers = list(BUDGET_TIERS)
    tiers[0] = dataclasses.replace(tiers[0], time_prior_exponent=2.5)
    monkeypatch.setattr(tiers_module, "BUDGET_TIERS", tuple(tiers))
    assert FmpeConfig().hash() != before[None]
    assert FmpeConfig().hash(1_000) != before[1_000]
    assert FmpeConfig().hash(10_000) == before[10_000]  # another tier's change keeps this budget's results
    assert FmpeConfig().hash(1_000) != FmpeConfig().hash(10_000)


def test_each_config_builds_its_path() -> None:
    assert isinstance(FmpeConfig().build_path(), OTPath)
    vp = FmpeVpConfig(vp_eps=0.01).build_path()
    assert isinstance(vp, VPPath) and vp.t_end == pytest.approx(0.99)


def test_methods_are_registered_with_their_configs() -> None:
    names = method_names()
    for name in ("fmpe", "fmpe_vp", "sbi_fmpe", "npse"):
        assert name in names
    assert isinstance(get_method("fmpe").config, FmpeConfig)
    assert isinstance(get_method("fmpe_vp").config, FmpeVpConfig)
    assert get_method("fmpe", {"steps": 8}).config.steps == 8


@pytest.mark.parametrize(
    "module", ["path", "network", "ode", "train", "config", "tiers", "selection", "parsing", "method"]
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"fmbench.fmpe.{module}"))
    assert result.failed == 0


def test_smoke_settings_are_cheap_and_valid() -> None:
    for cls in (FmpeConfig, FmpeVpConfig):
        smoke = cls.smoke()
        assert isinstance(smoke, cls) and smoke.max_epochs == 2 and smoke.hidden_features == (16, 16)


def read(**overrides: object) -> FmpeConfig:
    """The config ``--set`` gives for these settings."""
    return FmpeConfig.from_overrides(overrides)  # type: ignore[return-value]


def test_several_time_prior_exponents_are_a_selection() -> None:
    assert read(time_prior_exponent="1,4").time_prior_exponent == Candidates((1.0, 4.0))
    assert read(time_prior_exponent=[2]).time_prior_exponent == 2.0
    assert read(time_prior_exponent=3).time_prior_exponent == 3.0
    candidates = read(time_prior_exponent="0,1,4", batch_size=64).candidates(1000, 2)
    assert [c.train.time_prior_exponent for c in candidates.values()] == [0.0, 1.0, 4.0]
    assert list(candidates)[0] == "time_prior_exponent=0.0"
    assert candidates["time_prior_exponent=4.0"].train.time_prior_exponent == 4.0


def test_several_batch_sizes_are_a_selection_and_bad_ones_are_named() -> None:
    assert read(batch_size="64,256").batch_size == Candidates((64, 256))
    assert read(batch_size=[32]).batch_size == 32
    single = read(batch_size=64, time_prior_exponent=1)
    assert list(single.candidates(1000, 2)) == [""]
    for bad in ("64,0", "64,x", [], [64, 2.5], True, -3):
        with pytest.raises(ConfigError, match="batch_size"):
            read(batch_size=bad)
    several = read(batch_size="32,64", time_prior_exponent=1).candidates(1000, 2)
    assert [c.train.batch_size for c in several.values()] == [32, 64]


def test_the_1e3_tier_selects_among_batch_sizes_and_alphas_and_larger_budgets_fit_one_network() -> None:
    labels = list(FmpeConfig().candidates(1000, 2))
    assert labels == [
        f"time_prior_exponent={alpha} batch_size={batch}" for alpha in (0.0, 1.0, 4.0) for batch in (64, 256)
    ]
    for budget in (10_000, 100_000):
        for x_dim, conditioning in ((2, "concat"), (GLU_MIN_X_DIM, "glu")):
            (network,) = FmpeConfig().candidates(budget, x_dim).values()
            assert (network.conditioning, network.train.time_prior_exponent) == (conditioning, 1.0)


def test_several_conditionings_are_a_selection_and_bad_ones_are_named() -> None:
    config = read(conditioning="concat, glu", time_prior_exponent=4, batch_size=64)
    assert config.conditioning == Candidates(("concat", "glu"))
    candidates = config.candidates(1000, 2)
    assert {label: c.conditioning for label, c in candidates.items()} == {
        "conditioning=concat": "concat",
        "conditioning=glu": "glu",
    }
    for bad in ("film", "concat,film", [], ["glu", 3]):
        with pytest.raises(ConfigError, match="conditioning.*concat, glu"):
            read(conditioning=bad)
    with pytest.raises(ConfigError, match=r"got '\[concat,glu\]'"):  # the text as written, not its repr
        read(conditioning="[concat,glu]")


def test_conditioning_by_observation_length_where_the_tier_sets_none() -> None:
    assert FmpeConfig().resolved(1000, GLU_MIN_X_DIM).conditioning == "glu"
    assert FmpeConfig().resolved(1000, GLU_MIN_X_DIM - 1).conditioning == "concat"
    assert tier_for(10_000).conditioning_for(100) == "glu"
    assert tier_for(1_000).batch_size == Candidates((64, 256))


def test_a_candidate_holds_one_value_per_setting() -> None:
    (candidate,) = FmpeConfig(hidden_features=(8,), max_epochs=3).candidates(100_000, 2).values()
    tier = tier_for(100_000)
    assert candidate.hidden_features == (8,) and candidate.train.max_epochs == 3
    assert candidate.train.batch_size == tier.batch_size and candidate.conditioning == "concat"
    assert (candidate.train.lr_patience, candidate.train.early_stopping_patience) == (5, 15)


def test_the_hash_covers_the_training_code_and_retires_the_cells_of_earlier_code(monkeypatch) -> None:
    import fmbench.fmpe.config as config

    fmpe = get_method("fmpe")
    now = [fmpe.config.hash(b) for b in (1000, 10_000, 100_000)]
    # the cells made before the candidates trained together (results/fmpe_grid, results/fmpe_1e5,
    # results/fmpe_dropout_1e4) are records, not resumed: a run today makes new cells beside them
    retired = {"de25bcd4658a", "4927c226d4f4", "7424868ce4b6", "b19f2cb89ff5"}
    assert set(FmpeConfig.RETIRED_HASHES) == retired and not retired & set(now)
    assert get_method("fmpe", {"dropout": 0.3}).config.hash(10_000) not in retired | set(now)
    assert FmpeConfig.CONFIG_VERSION == 2 and not FmpeConfig.EARLIER_HASHES
    monkeypatch.setattr(config, "TRAINING_VERSION", config.TRAINING_VERSION + 1)
    later = [fmpe.config.hash(b) for b in (1000, 10_000, 100_000)]
    assert all(a != b for a, b in zip(now, later, strict=True))  # new training code: new cells
    assert get_method("fmpe", {"dropout": 0.3}).config.to_dict()["dropout"] == 0.3  # recorded in rows
