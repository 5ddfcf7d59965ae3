"""The compiled-plan cache: a replayed plan gives exactly what building the graph gives, and
anything the SQL depends on changes the key."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from ctit.engine import plan as plans
from ctit.engine.derivations import derive_study
from ctit.protocol import load_protocol
from ctit.readers import read_study

EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CTIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CTIT_PLAN_CACHE", raising=False)
    return tmp_path / "plans"


def _frames(d) -> dict[str, pd.DataFrame]:
    return {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}


def test_replayed_plan_gives_the_same_tables(cache, monkeypatch):
    study, protocol = read_study(EXAMPLE), load_protocol()
    monkeypatch.setenv("CTIT_PLAN_CACHE", "off")
    live = derive_study(study, protocol)
    assert not cache.exists()
    monkeypatch.delenv("CTIT_PLAN_CACHE")
    recorded = derive_study(study, protocol)          # builds the graph and stores the plan
    assert len(list(cache.iterdir())) == 1
    replayed = derive_study(study, protocol)          # replays it
    for name, frame in _frames(live).items():
        pd.testing.assert_frame_equal(frame, _frames(recorded)[name], obj=name)
        pd.testing.assert_frame_equal(frame, _frames(replayed)[name], obj=name)


def test_the_key_follows_protocol_and_table_shapes():
    study, protocol = read_study(EXAMPLE), load_protocol()
    key = plans.plan_key(study, protocol)
    assert plans.plan_key(read_study(EXAMPLE), load_protocol()) == key
    assert plans.plan_key(study, load_protocol(overrides=["sustain_days=8"])) != key
    wider = dataclasses.replace(study, labs=study.labs.assign(site="ward 3"))
    assert plans.plan_key(wider, protocol) != key


def test_a_different_protocol_is_never_served_an_old_plan(cache):
    study = read_study(EXAMPLE)
    base = derive_study(study, load_protocol()).patients.set_index("patient_id")
    strict = derive_study(study, load_protocol(overrides=["sustain_days=28"])).patients.set_index("patient_id")
    assert (base.best_response == "CR").sum() > (strict.best_response == "CR").sum()
    assert len(list(cache.iterdir())) == 2


def test_an_unreadable_plan_is_rebuilt(cache):
    study, protocol = read_study(EXAMPLE), load_protocol()
    expected = derive_study(study, protocol).patients
    key = plans.plan_key(study, protocol)
    (cache / key / "steps.json").write_text("not json")
    assert plans.load_plan(key) is None
    pd.testing.assert_frame_equal(derive_study(study, protocol).patients, expected)


def test_a_tampered_plan_is_rebuilt_not_replayed(cache):
    study, protocol = read_study(EXAMPLE), load_protocol()
    honest = derive_study(study, protocol).patients
    (folder,) = cache.iterdir()
    steps = (folder / "steps.json").read_text()
    # Lower every CR threshold in the stored SQL: replayed, it would change the response.
    tampered = steps.replace("100", "10")
    assert tampered != steps
    (folder / "steps.json").write_text(tampered)
    assert plans.load_plan(folder.name) is None
    pd.testing.assert_frame_equal(derive_study(study, protocol).patients, honest)


def test_graded_labs_are_a_view_not_a_second_copy(cache):
    """Graded labs (as many rows as the labs) are computed where they are written or listed:
    the engine holds no table of them beside the tables they come from. Unused rows, few and
    read three times, are stored once."""
    study, protocol = read_study(EXAMPLE), load_protocol()
    for run in ("recorded", "replayed"):
        d = derive_study(study, protocol)
        con = d.in_engine("graded_labs").con
        tables = {name for (name,) in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {name for (name,) in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert "ctit_result_graded_labs" in views and "ctit_result_graded_labs" not in tables, run
        assert "ctit_result_unused_rows" in tables, run
