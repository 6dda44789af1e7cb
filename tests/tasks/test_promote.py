"""`alpharl promote`: aliases, the off-policy check, and the record in the version's tags."""

from __future__ import annotations

import uuid

import pytest
from ope_campaign import Campaign, compose_config

from alpharl.config import ConfigError
from alpharl.tasks.promote import PROMOTED, REFUSED, UNCHANGED, main, promote
from alpharl.tracking.models import get_version_by_alias, get_version_tags, set_alias
from alpharl.tracking.store import TrackingStore

T = "alpharl.promotion."


@pytest.fixture
def model(register_policy, campaign: Campaign) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A fresh registered model: version 1 is the bad policy, version 2 the good one."""
    name = f"promote-{uuid.uuid4().hex[:8]}"
    return {
        "name": name,
        "bad": register_policy(campaign.bad, name),
        "good": register_policy(campaign.good, name),
    }


def _cfg(task_overrides: list[str], name: str, *overrides: str):  # type: ignore[no-untyped-def]
    return compose_config("promote", [*task_overrides, f"model_name={name}", *overrides])


def _check(campaign: Campaign) -> list[str]:
    return [
        f"if_better.log.source=sqlite:///{campaign.log_path}",
        "if_better.estimator=dr",
        "if_better.n_bootstrap_samples=300",
    ]


def test_plain_promotion_and_unchanged(
    model: dict[str, str], task_overrides: list[str], mlflow_store: TrackingStore
) -> None:
    name = model["name"]
    out = promote(_cfg(task_overrides, name, "version=1", "alias=champion"))
    assert (out.decision, out.version, out.incumbent) == (PROMOTED, "1", None)
    assert get_version_by_alias(name, "champion", mlflow_store).version == "1"
    tags = get_version_tags(name, 1, mlflow_store)
    assert tags[T + "decision"] == "promoted"
    assert "if_better.log.source is null" in tags[T + "reason"]
    assert tags[T + "timestamp"].startswith("20")
    again = promote(_cfg(task_overrides, name, "version=1"))
    assert again.decision == UNCHANGED
    assert again.holds_alias


def test_if_better_promotes_the_better_and_refuses_the_worse(
    model: dict[str, str],
    campaign: Campaign,
    task_overrides: list[str],
    mlflow_store: TrackingStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = model["name"]
    set_alias(name, "champion", model["bad"], mlflow_store)
    set_alias(name, "challenger", model["good"], mlflow_store)
    cfg = _cfg(task_overrides, name, "from_alias=challenger", *_check(campaign))
    out = main(cfg)
    assert out.decision == PROMOTED
    assert get_version_by_alias(name, "champion", mlflow_store).version == model["good"]
    printed = capsys.readouterr().out
    assert f"promoted {name} version 2 to @champion" in printed
    assert "paired CI" in printed
    c = out.check
    assert c["difference_ci"][0] > 0
    assert c["candidate_estimate"] > c["incumbent_estimate"]
    truth_gap = campaign.true_value(campaign.good) - campaign.true_value(campaign.bad)
    assert c["difference_ci"][0] <= truth_gap <= c["difference_ci"][1]
    tags = get_version_tags(name, model["good"], mlflow_store)
    assert tags[T + "decision"] == "promoted"
    assert tags[T + "incumbent_version"] == model["bad"]
    assert tags[T + "estimator"] == "dr"
    assert tags[T + "log_hash"] == c["log_hash"]
    assert tags[T + "difference_ci"].startswith("[")
    assert "exceeds the margin 0" in tags[T + "reason"]

    # Now the bad version challenges the good champion: refused, and recorded as such.
    set_alias(name, "challenger", model["bad"], mlflow_store)
    worse = _cfg(task_overrides, name, "from_alias=challenger", "require_promotion=true",
                 *_check(campaign))  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(worse)
    assert exit_info.value.code == 1
    assert get_version_by_alias(name, "champion", mlflow_store).version == model["good"]
    assert "refused" in capsys.readouterr().out
    tags = get_version_tags(name, model["bad"], mlflow_store)
    assert tags[T + "decision"] == REFUSED
    assert "does not exceed the margin" in tags[T + "reason"]


def test_margin_can_refuse_a_better_challenger(
    model: dict[str, str],
    campaign: Campaign,
    task_overrides: list[str],
    mlflow_store: TrackingStore,
) -> None:
    name = model["name"]
    set_alias(name, "champion", model["bad"], mlflow_store)
    cfg = _cfg(task_overrides, name, f"version={model['good']}", "if_better.margin=5.0",
               *_check(campaign))  # fmt: skip
    out = promote(cfg)
    assert out.decision == REFUSED
    assert out.check["difference"] > 0  # better, but not by 5 clicks per decision
    assert get_version_by_alias(name, "champion", mlflow_store).version == model["bad"]


def test_no_incumbent_means_nothing_to_compare(
    model: dict[str, str], campaign: Campaign, task_overrides: list[str]
) -> None:
    out = promote(_cfg(task_overrides, model["name"], "version=1", *_check(campaign)))
    assert out.decision == PROMOTED
    assert "nothing to compare against" in out.reason


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([], r"version, from_alias: give exactly one of them \(got neither\)"),
        (["version=1", "from_alias=x"], r"give exactly one of them \(got both\)"),
        (["version=9"], r"version: .* has no version 9; it has versions \['1', '2'\]"),
        (["from_alias=nobody"], r"from_alias: .*@nobody does not exist"),
        (["version=2", "if_better.estimator=drr"], r"if_better\.estimator: 'drr' is not one of"),
        (["version=2", "if_better.log.source=log.txt"], r"if_better\.log\.source: unknown format"),
    ],
)
def test_bad_input_names_what_is_wrong(
    model: dict[str, str],
    campaign: Campaign,
    task_overrides: list[str],
    mlflow_store: TrackingStore,
    overrides: list[str],
    message: str,
) -> None:
    set_alias(model["name"], "champion", model["bad"], mlflow_store)
    check = [f"if_better.log.source=sqlite:///{campaign.log_path}"]
    cfg = _cfg(task_overrides, model["name"], *check, *overrides)
    with pytest.raises(ConfigError, match=message):
        promote(cfg)
    assert get_version_by_alias(model["name"], "champion", mlflow_store).version == model["bad"]


def test_a_deterministic_policy_is_promoted_with_a_warning(
    register_policy,  # type: ignore[no-untyped-def]
    campaign: Campaign,
    task_overrides: list[str],
) -> None:
    from alpharl.policy import LinearPolicy

    name = f"promote-{uuid.uuid4().hex[:8]}"
    greedy = LinearPolicy(campaign.good.theta)  # GreedyRule: propensity 1 for what it serves
    register_policy(greedy, name)
    register_policy(campaign.good, name)
    out = promote(_cfg(task_overrides, name, "version=1"))
    assert out.notes
    assert "decides deterministically (greedy)" in out.notes[0]
    assert "note: version 1 decides deterministically" in out.render()
    assert promote(_cfg(task_overrides, name, "version=2")).notes == []  # epsilon-greedy explores
