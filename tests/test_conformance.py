"""Conformance checks (ctit.cdisc.conformance): every ctit output passes them, and each rule
fails on a deliberately broken copy of a passing dataset."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from ctit.cdisc.adam import adam_datasets
from ctit.cdisc.adam_writer import write_adam
from ctit.cdisc.conformance import Dataset, check_adam, check_sdtm, read_folder
from ctit.cdisc.sdtm_writer import write_sdtm
from ctit.protocol import load_protocol
from ctit.readers import read_study
from ctit.readers.sdtm import read_sdtm

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"


@pytest.fixture(scope="module")
def example_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Dataset], dict[str, Dataset]]:
    out = tmp_path_factory.mktemp("conf")
    study = read_study(EXAMPLE)
    write_sdtm(study, out / "sdtm", formats=("xpt",))
    datasets, _ = adam_datasets(study, load_protocol(None))
    write_adam(datasets, out / "adam", formats=("xpt",))
    return read_folder(out / "sdtm"), read_folder(out / "adam")


def test_example_outputs_conform(example_out) -> None:  # type: ignore[no-untyped-def]
    sdtm, adam = example_out
    assert set(sdtm) == {"DM", "SUPPDM", "VS", "EX", "CM", "LB", "AE", "PR", "FA", "TS"}
    assert set(adam) == {"ADSL", "ADLB", "ADRS", "ADTTE"}
    assert [str(f) for f in check_sdtm(sdtm)] == []
    assert [str(f) for f in check_adam(adam)] == []


def test_pharmaverse_outputs_conform(shared_data: Path, tmp_path: Path) -> None:
    """The pharmaverse SDTM read, written back as SDTM and as ADaM by ctit."""
    from tests.test_sdtm_reader import pharmaverse_folder

    study = read_sdtm(pharmaverse_folder(shared_data, tmp_path / "pv"))
    write_sdtm(study, tmp_path / "sdtm", formats=("xpt",))
    datasets, _ = adam_datasets(study, load_protocol(None))
    write_adam(datasets, tmp_path / "adam", formats=("xpt",))
    sdtm, adam = read_folder(tmp_path / "sdtm"), read_folder(tmp_path / "adam")
    assert [str(f) for f in check_sdtm(sdtm)] == []
    assert [str(f) for f in check_adam(adam)] == []
    # The input's own identifiers and demography survive (CDISCPILOT01, site 701, WHITE).
    dm = sdtm["DM"].data.set_index("USUBJID")
    assert dm.at["01-701-1015", "STUDYID"] == "CDISCPILOT01" and dm.at["01-701-1015", "SITEID"] == "701"
    assert adam["ADSL"].data.set_index("USUBJID").at["01-701-1015", "RACE"] == "WHITE"


def _edit(frame_edit: Callable[[pd.DataFrame], None]) -> Callable[[Dataset], None]:
    def run(ds: Dataset) -> None:
        frame_edit(ds.data)
    return run


def _set(column: str, row: int, value: object) -> Callable[[Dataset], None]:
    def run(ds: Dataset) -> None:
        ds.data[column] = ds.data[column].astype("object")
        ds.data.iloc[row, ds.data.columns.get_loc(column)] = value
    return run


def _drop(column: str) -> Callable[[Dataset], None]:
    return _edit(lambda d: d.drop(columns=column, inplace=True))


def _label(column: str) -> Callable[[Dataset], None]:
    def run(ds: Dataset) -> None:
        ds.labels[column] = "x" * 41
    return run


def _rename(old: str, new: str) -> Callable[[Dataset], None]:
    return _edit(lambda d: d.rename(columns={old: new}, inplace=True))


def _char_date(column: str) -> Callable[[Dataset], None]:
    def run(ds: Dataset) -> None:
        ds.types[column], ds.formats[column] = "char", ""
    return run


def _duplicate_first_row(ds: Dataset) -> None:
    ds.data = pd.concat([ds.data, ds.data.iloc[[0]]], ignore_index=True)


def _copy_seq(column: str) -> Callable[[Dataset], None]:
    def run(ds: Dataset) -> None:
        ds.data.loc[1, column] = ds.data.loc[0, column]
        ds.data.loc[1, "USUBJID"] = ds.data.loc[0, "USUBJID"]
    return run


SDTM_BREAKS = [
    ("SD0001", "DM", _drop("SUBJID")),
    ("SD0001", "LB", _set("LBTESTCD", 0, None)),
    ("SD0002", "DM", _drop("ARMCD")),
    ("SD0003", "LB", _copy_seq("LBSEQ")),
    ("SD0004", "LB", _set("LBDY", 0, 0.0)),
    ("SD0005", "LB", _set("LBDTC", 0, "03/01/2024")),
    ("SD0006", "DM", _duplicate_first_row),
    ("SD0006", "AE", _set("USUBJID", 0, "CTIT-P99")),
    ("SD0007", "LB", _set("LBLOBXFL", 0, "N")),
    ("SD0008", "LB", _set("LBTEST", 0, "Something else")),
    ("SD0008", "LB", _set("LBTESTCD", 0, "PLATELETS")),
    ("TR0001", "LB", _label("LBTEST")),
    ("TR0001", "LB", _rename("LBTEST", "LBTESTNAME")),
]

ADAM_BREAKS = [
    ("AD0001", "ADSL", _drop("SITEID")),
    ("AD0001", "ADTTE", _drop("CNSR")),
    ("AD0001", "ADLB", _drop("PARAMCD")),
    ("AD0002", "ADSL", _duplicate_first_row),
    ("AD0002", "ADLB", _set("USUBJID", 0, "CTIT-P99")),
    ("AD0003", "ADLB", _copy_seq("ASEQ")),
    ("AD0004", "ADSL", _set("SAFFL", 0, None)),
    ("AD0004", "ADLB", _set("ABLFL", 0, "N")),
    ("AD0005", "ADSL", _char_date("TRTSDT")),
    ("AD0005", "ADSL", _char_date("TRTSDTM")),
    ("AD0006", "ADLB", _set("PARAMCD", 0, "PLATELETS")),
    ("AD0006", "ADLB", _set("PARAM", 0, "Another name")),
    ("AD0007", "ADLB", _set("ADY", 0, 0.0)),
    ("TR0001", "ADSL", _label("AGE")),
]


@pytest.mark.parametrize("rule,dataset,breaker", SDTM_BREAKS, ids=[f"{r}-{d}-{i}" for i, (r, d, _) in enumerate(SDTM_BREAKS)])
def test_each_sdtm_rule_fails_on_a_broken_copy(example_out, rule, dataset, breaker) -> None:  # type: ignore[no-untyped-def]
    sdtm = copy.deepcopy(example_out[0])
    breaker(sdtm[dataset])
    found = check_sdtm(sdtm)
    assert any(f.rule == rule and f.dataset == dataset for f in found), found


@pytest.mark.parametrize("rule,dataset,breaker", ADAM_BREAKS, ids=[f"{r}-{d}-{i}" for i, (r, d, _) in enumerate(ADAM_BREAKS)])
def test_each_adam_rule_fails_on_a_broken_copy(example_out, rule, dataset, breaker) -> None:  # type: ignore[no-untyped-def]
    adam = copy.deepcopy(example_out[1])
    breaker(adam[dataset])
    found = check_adam(adam)
    assert any(f.rule == rule and f.dataset == dataset for f in found), found
