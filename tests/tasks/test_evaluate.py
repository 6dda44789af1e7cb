"""`alpharl evaluate`: off-policy estimates of registered and local policies on logged data."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from ope_campaign import N_ACTIONS, Campaign, compose_config, policy_with

from alpharl.config import ConfigError
from alpharl.ope.files import write_logged
from alpharl.policy import EpsilonGreedyRule, LinearPolicy
from alpharl.serving.log_reader import read_logged_feedback
from alpharl.tasks.evaluate import evaluate, main
from alpharl.tracking.models import set_alias
from alpharl.tracking.store import TrackingStore

ESTIMATORS = ["ipw", "snipw", "dm", "dr", "sndr", "switch-dr"]
FAST = ["ope.n_bootstrap_samples=300"]


def test_evaluates_a_registered_and_a_local_policy(
    campaign: Campaign,
    register_policy,  # type: ignore[no-untyped-def]
    mlflow_store: TrackingStore,
    task_overrides: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    version = register_policy(campaign.good, "eval-good")
    set_alias("eval-good", "challenger", version, mlflow_store)
    bad_dir = campaign.bad.save(tmp_path / "bad-policy")
    cfg = compose_config(
        "evaluate",
        [
            *task_overrides,
            *FAST,
            f"log.source=sqlite:///{campaign.log_path}",
            f"policies=[models:/eval-good@challenger,{bad_dir}]",
            "+tags.who=test",
        ],
    )
    result = main(cfg)
    printed = capsys.readouterr().out
    assert "policy eval-good.v1  (models:/eval-good@challenger)" in printed
    assert "policy bad-policy" in printed
    assert f"sha256 {result.log_hash}" in printed
    table = result.table()
    assert table.shape[0] == 2 * len(ESTIMATORS)
    assert set(table["estimator"]) == set(ESTIMATORS)
    assert result.feedback.n_excluded > 0
    assert result.feedback.action_mask is not None  # eligibility came from the log
    for key, policy in (("eval-good.v1", campaign.good), ("bad-policy", campaign.bad)):
        truth = campaign.true_value(policy)
        rows = table[table["policy"] == key].set_index("estimator")
        for est in ("ipw", "snipw", "dr", "sndr"):
            lo, hi = rows.loc[est, "ci_lower"], rows.loc[est, "ci_upper"]
            assert lo <= truth <= hi, (key, est, lo, truth, hi)
    dr = table.set_index(["policy", "estimator"])["estimate"]
    assert dr["eval-good.v1", "dr"] > dr["bad-policy", "dr"] + 0.1
    # The run holds a metric per policy and estimator, and the table.
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.metrics["eval-good.v1.dr"] == pytest.approx(dr["eval-good.v1", "dr"])
    assert "bad-policy.switch-dr.ci_upper" in run.data.metrics
    assert run.data.metrics["log.n_rounds"] == result.feedback.n_rounds
    assert run.data.tags["log_hash"] == result.log_hash
    assert run.data.tags["who"] == "test"
    arts = {a.path for a in client.list_artifacts(result.run_id, "ope")}
    assert arts == {"ope/summary.txt", "ope/summary.csv"}


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_reads_exported_arrays(
    campaign: Campaign, task_overrides: list[str], tmp_path: Path, suffix: str
) -> None:
    exported = write_logged(read_logged_feedback(campaign.log_path), tmp_path / f"log{suffix}")
    good = campaign.good.save(tmp_path / "good")
    base = [*task_overrides, "ope.n_bootstrap_samples=50", f"policies=[{good}]"]
    a = evaluate(compose_config("evaluate", [*base, f"log.source={exported}"]))
    b = evaluate(compose_config("evaluate", [*base, f"log.source=sqlite:///{campaign.log_path}"]))
    assert a.log_hash == b.log_hash
    assert a.summaries["good"].equals(b.summaries["good"])


def test_reads_an_open_bandit_dataset_csv(task_overrides: list[str], tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    lines = [",timestamp,item_id,position,click,propensity_score,user_feature_0,affinity"]
    for i in range(n):
        lines.append(f"{i},2019-11-24,{rng.integers(3)},1,{int(rng.random() < 0.3)},"
                     f"0.3333333,{rng.normal():.3f},0")  # fmt: skip
    csv = tmp_path / "obd.csv"
    csv.write_text("\n".join(lines) + "\n")
    theta = np.array([[1.0], [0.0], [-1.0]])
    uniform = LinearPolicy(theta, rule=EpsilonGreedyRule(1.0))
    folder = uniform.save(tmp_path / "uniform")
    cfg = compose_config(
        "evaluate",
        [*task_overrides, *FAST, f"log.source={csv}", f"policies=[{folder}]"],
    )
    result = evaluate(cfg)
    ipw = result.summaries["uniform"].loc["ipw", "estimated_policy_value"]
    # The evaluated policy is the logging policy (uniform): IPW is the logged mean.
    assert ipw == pytest.approx(result.feedback.on_policy_value)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (["log.source=null"], ConfigError, r"log\.source: is required"),
        (["log.source=data.json"], ConfigError, r"log\.source: unknown format '\.json'"),
        (["log.source=mysql://h/db"], ConfigError, r"unsupported scheme 'mysql'"),
        (["log.source=missing.parquet"], FileNotFoundError, r"no such file 'missing\.parquet'"),
        (["log.source=sqlite:///nope.db"], FileNotFoundError, "no decision log at this path"),
        (["log.arm=challenger", "log.source=x.npz"], ConfigError, r"log\.arm: applies to"),
        (["policies=[]"], ConfigError, "policies: name at least one policy"),
        (["policies=[no/such/folder]"], ConfigError, r"policies\[0\]: 'no/such/folder'"),
        (["ope.estimators=[]"], ConfigError, r"ope\.estimators: name at least one"),
        (["ope.reward_model=null"], ConfigError, r"ope\.reward_model: is required by dm, dr"),
    ],
)
def test_bad_input_names_what_is_wrong(
    campaign: Campaign,
    task_overrides: list[str],
    tmp_path: Path,
    overrides: list[str],
    error: type[Exception],
    message: str,
) -> None:
    good = campaign.good.save(tmp_path / "good")
    base = [f"log.source=sqlite:///{campaign.log_path}", f"policies=[{good}]"]
    cfg = compose_config("evaluate", [*task_overrides, *base, *overrides])
    with pytest.raises(error, match=message):
        evaluate(cfg)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            LinearPolicy(np.zeros((N_ACTIONS + 1, 6))),
            r"policies\[0\] .*5 actions but the log has 4",
        ),
        (LinearPolicy(np.zeros((N_ACTIONS, 9))), r"takes 9 context features but the log's .* 6"),
    ],
)
def test_a_policy_that_does_not_fit_the_log_is_refused(
    campaign: Campaign,
    task_overrides: list[str],
    tmp_path: Path,
    policy: LinearPolicy,
    message: str,
) -> None:
    folder = policy.save(tmp_path / "misfit")
    cfg = compose_config(
        "evaluate",
        [*task_overrides, f"log.source=sqlite:///{campaign.log_path}", f"policies=[{folder}]"],
    )
    with pytest.raises(ConfigError, match=message):
        evaluate(cfg)


def test_unknown_keys_are_errors_naming_the_key() -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=r"log\.sorce"):
        compose_config("evaluate", ["log.sorce=x"])
    with pytest.raises(ConfigCompositionException, match=r"ope\.n_boot"):
        compose_config("evaluate", ["ope.n_boot=3"])
    cfg = compose_config(
        "evaluate", ["ope.estimators=[{_target_: alpharl.ope.DoublyRobust, lamda: 3}]"]
    )
    from alpharl.config import check_targets

    with pytest.raises(ConfigError, match=r"ope\.estimators\[0\]\.lamda: unknown key"):
        check_targets(cfg)


def test_policy_helper_matches_the_campaign(campaign: Campaign) -> None:
    # The fixtures' good policy really is better in the simulator (the tests rely on it).
    assert campaign.true_value(campaign.good) > campaign.true_value(campaign.bad) + 0.2
    assert policy_with(1.0, 0.1).n_features == 6


@pytest.mark.integration
def test_reads_a_postgresql_decision_log(
    campaign: Campaign, task_overrides: list[str], tmp_path: Path
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
    from local_servers import find_postgres_bindir, postgres_server

    from alpharl.serving.decision_log import DecisionLog
    from alpharl.serving.pg_decision_log import PostgresDecisionLog

    if find_postgres_bindir() is None:
        pytest.skip("no PostgreSQL binaries: `pip install pgserver` (a dev dependency)")
    source = DecisionLog(campaign.log_path)
    rows = source.export_logged_feedback()
    source.close()
    good = campaign.good.save(tmp_path / "good")
    with postgres_server() as pg:
        store = PostgresDecisionLog(pg.url)
        store.append_many([_as_record(r) for r in rows])
        for r in rows:
            if r["reward"] is not None:
                store.record_feedback(r["decision_id"], r["reward"])
        store.close()
        base = [*task_overrides, "ope.n_bootstrap_samples=50", f"policies=[{good}]"]
        from_pg = evaluate(compose_config("evaluate", [*base, f"log.source={pg.url}"]))
        wrong_arm = compose_config(
            "evaluate", [*base, f"log.source={pg.url}", "log.arm=challenger"]
        )
        with pytest.raises(ValueError, match="holds no decision of arm 'challenger'"):
            evaluate(wrong_arm)
    from_sqlite = evaluate(
        compose_config("evaluate", [*base, f"log.source=sqlite:///{campaign.log_path}"])
    )
    assert from_pg.log_hash == from_sqlite.log_hash  # the same rows, masks and rewards
    assert from_pg.summaries["good"].equals(from_sqlite.summaries["good"])


def _as_record(row: dict) -> object:  # type: ignore[type-arg]
    from alpharl.serving.decision_log import DecisionRecord

    return DecisionRecord(
        decision_id=row["decision_id"],
        created_at=row["created_at"],
        user_id=row["user_id"],
        context=np.asarray(row["context"], dtype=np.float32),
        mask=None if row["mask"] is None else np.asarray(row["mask"], dtype=bool),
        n_actions=row["n_actions"],
        action=row["action"],
        propensity=row["propensity"],
        policy_name=row["policy_name"],
        policy_version=row["policy_version"],
        arm=row["arm"],
    )
