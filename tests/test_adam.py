"""ADaM: transport files reopen intact, ADTTE/ADRS agree with patients.csv, and ADLB's CTCAE v5
grades agree with admiral's on the CDISC pilot (docs/cdisc.md, "Agreement with admiral")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from ctit.cdisc.adam import ROW_ID, adam_datasets
from ctit.cdisc.adam_writer import write_adam
from ctit.cdisc.mapping import load_mapping
from ctit.cdisc.metadata import variable
from ctit.protocol import load_protocol
from ctit.readers import read_study
from ctit.readers.sdtm import read_sdtm

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"


@pytest.fixture(scope="module")
def example_adam(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("adam")
    datasets, results = adam_datasets(read_study(EXAMPLE), load_protocol(None))
    write_adam(datasets, out)
    return datasets, results, out


def test_xpt_reopens_with_names_labels_types(example_adam) -> None:  # type: ignore[no-untyped-def]
    datasets, _, out = example_adam
    for name, frame in datasets.items():
        data, meta = pyreadstat.read_xport(str(out / f"{name.lower()}.xpt"))
        assert meta.column_names == list(frame.columns)
        assert meta.table_name == name
        for column in frame.columns:
            v = variable(name, column)
            assert meta.column_names_to_labels[column] == v.label
            kind = meta.readstat_variable_types[column]
            assert kind == ("string" if v.type == "char" else "double"), (name, column)
            if v.type == "date":
                # pyreadstat >= 1.3.8 reports the format with its trailing dot, as SAS writes it.
                assert meta.original_variable_types[column].rstrip(".") == "DATE9"
        assert len(data) == len(frame)
        assert (out / f"{name.lower()}.parquet").is_file()
    sheet = pd.read_csv(out / "metadata.csv")
    assert set(sheet.columns) >= {"dataset", "variable", "label", "type", "derivation"}
    assert len(sheet) == sum(len(f.columns) for f in datasets.values())


def test_adtte_and_adrs_agree_with_patients(example_adam) -> None:  # type: ignore[no-untyped-def]
    datasets, results, _ = example_adam
    patients = results.patients.set_index(results.patients.patient_id.map(lambda p: f"CTIT-{p}"))
    tte = datasets["ADTTE"].set_index("USUBJID")
    included = patients[patients.included.astype(bool)]
    assert set(tte.index) == set(included.index)
    for pid, p in included.iterrows():
        row = tte.loc[pid]
        # AVAL = ADT - STARTDT + 1 (admiral's derive_vars_duration default): a CR with onset
        # on day 12 after the first dose is AVAL 13.
        assert (row.ADT - row.STARTDT).days + 1 == row.AVAL
        assert pd.notna(row.EVNTDESC)
        if p.best_response == "CR":
            assert row.CNSR == 0 and row.AVAL == p.time_to_cr + 1
        else:
            assert row.CNSR == 1 and pd.isna(p.time_to_cr) and pd.notna(row.CNSDTDSC)
        assert pd.notna(row.SRCSEQ)
    rs = datasets["ADRS"]
    bor = rs[rs.PARAMCD == "BOR"].set_index("USUBJID")
    assert set(bor.index) == set(patients.index)
    codes = {"CR": 1, "PR": 2, "NR": 3, "NE": 4, "MISSING": 5}
    for pid, p in patients.iterrows():
        expected = p.best_response if pd.notna(p.best_response) else "MISSING"
        assert bor.at[pid, "AVALC"] == expected and bor.at[pid, "AVAL"] == codes[expected]
        # Every assessed BOR has a date: the onset, or for NR the last platelet count.
        if expected == "NR":
            assert bor.at[pid, "PRTDY"] == p.last_count_day and pd.notna(bor.at[pid, "ADT"])
        if expected == "MISSING":
            assert pd.isna(bor.at[pid, "ADT"])
    cr = rs[rs.PARAMCD == "CRSUST"].set_index("USUBJID")
    assert ((cr.AVALC == "Y") == included.loc[cr.index].best_response.eq("CR")).all()


def test_adlb_grades_are_the_engines(example_adam) -> None:  # type: ignore[no-untyped-def]
    datasets, results, _ = example_adam
    lb = datasets["ADLB"]
    g = results.derivations.graded_labs
    assert len(lb) == len(results.study.labs)
    plt = g[g.test == "PLT"].grade.astype("Int64").value_counts().sort_index()
    ours = lb[lb.PARAMCD == "PLAT"].ATOXGRL.astype("Int64").value_counts().sort_index()
    pd.testing.assert_series_equal(plt, ours, check_names=False)
    # Platelet BASE is the protocol baseline of patients.csv (section 3).
    base = lb[(lb.PARAMCD == "PLAT") & (lb.ABLFL == "Y")].set_index("USUBJID").BASE
    inc = results.patients[results.patients.included.astype(bool)]
    inc = inc.set_index(inc.patient_id.map(lambda p: f"CTIT-{p}"))
    assert (base.loc[inc.index].astype(float) == inc.baseline_plt.astype(float)).all()


def _adlb_vs_engine(datasets, results):  # type: ignore[no-untyped-def]
    """ADLB joined, per lab record, to the engine's graded rows: LBSEQ is the record's order
    within the subject (by day, then input row) for a CSV study (docs/cdisc.md)."""
    g = results.derivations.graded_labs
    rows = g.drop_duplicates(ROW_ID).sort_values(["patient_id", "day", "source_row"]).copy()
    rows["LBSEQ"] = rows.groupby("patient_id").cumcount() + 1
    for direction in ("L", "H"):
        part = g[g.direction == direction].drop_duplicates(ROW_ID).set_index(ROW_ID).grade
        rows[f"grade_{direction}"] = rows[ROW_ID].map(part)
    rows["USUBJID"] = "CTIT-" + rows.patient_id.astype(str)
    lb = datasets["ADLB"]
    m = lb.merge(rows, on=["USUBJID", "LBSEQ"], how="outer", validate="one_to_one", indicator=True)
    assert (m._merge == "both").all()
    return m


def _same(a: pd.Series, b: pd.Series) -> bool:
    a, b = a.astype("Float64"), b.astype("Float64")
    return bool(((a == b).fillna(False) | (a.isna() & b.isna())).all())


def test_adlb_row_by_row_with_graded_labs(example_adam) -> None:  # type: ignore[no-untyped-def]
    datasets, results, _ = example_adam
    m = _adlb_vs_engine(datasets, results)
    codes = load_mapping()["lab_codes"]
    assert (m.PARAMCD == m.test.map(lambda t: codes[t][0])).all()
    assert _same(m.PRTDY, m.day)
    assert _same(m.AVAL, m.value.astype("Float64").where(m.unit.notna()))
    # Reference ranges are the limits the grades were decided with (protocol defaults included).
    assert _same(m.ANRLO, m.lln_applied) and _same(m.ANRHI, m.uln_applied)
    assert _same(m.ATOXGRL, m.grade_L) and _same(m.ATOXGRH, m.grade_H)
    # Rows without their own LLN carry the protocol's default (the P01 day -14 case).
    plt_default = m[(m.test == "PLT") & m.lln.isna()]
    assert len(plt_default) and (plt_default.ANRLO == results.protocol.default_platelet_lln).all()
    # ANRIND against the applied limits; empty only without a value or without any limit.
    aval, lo, hi = m.AVAL.astype(float), m.ANRLO.astype(float), m.ANRHI.astype(float)
    expected = pd.Series("NORMAL", index=m.index, dtype=object)
    expected[aval < lo] = "LOW"
    expected[aval > hi] = "HIGH"
    expected[m.AVAL.isna() | (m.ANRLO.isna() & m.ANRHI.isna())] = None
    assert (m.ANRIND.fillna("-") == expected.fillna("-")).all()
    # A graded low platelet count is below the LLN it was graded against.
    plat = m[m.PARAMCD == "PLAT"]
    assert (plat.ATOXGRL.astype("Float64") >= 1).fillna(False).sum() > 0
    assert (plat.ANRIND[(plat.ATOXGRL.astype("Float64") >= 1).fillna(False)] == "LOW").all()
    # BNRIND: BASE against the applied limits (of the baseline record).
    base = m[m.BASE.notna()]
    assert base.BNRIND.notna().all()
    plat_base = base[base.PARAMCD == "PLAT"]
    assert (plat_base.BNRIND == ["LOW" if b < lo_ else "NORMAL" for b, lo_ in
                                 zip(plat_base.BASE.astype(float), plat_base.ANRLO.astype(float))]).all()


def test_adlb_anl01fl_is_the_engines_row_accounting(example_adam) -> None:  # type: ignore[no-untyped-def]
    datasets, results, _ = example_adam
    m = _adlb_vs_engine(datasets, results)
    u = results.derivations.unused_rows
    unused = set(u[u.table == "labs"].source_row.astype(int))
    assert unused, "the example lists unused lab rows"
    flagged = m.ANL01FL.eq("Y")
    assert (flagged == ~m.source_row.astype(int).isin(unused)).all()
    # Every ADLB record not analysed has a reason in unused_rows, and only those.
    assert set(m.loc[~flagged, "source_row"].astype(int)) == unused
    assert set(m.ANL01FL.dropna()) == {"Y"}


def test_admiral_agreement(shared_data: Path, tmp_path: Path) -> None:
    """ADLB from pharmaversesdtm vs admiral's CTCAE v5 grades, observed rows (DTYPE empty),
    joined on USUBJID + PARAMCD + LBSEQ."""
    from tests.test_sdtm_reader import pharmaverse_folder

    study = read_sdtm(pharmaverse_folder(shared_data, tmp_path / "pv"))
    datasets, _ = adam_datasets(study, load_protocol(None))
    lb = datasets["ADLB"]
    ad = pd.read_csv(shared_data / "pharmaverse" / "admiral" / "adlb_ctcae_v4_v5_admiral.csv")
    ad = ad[ad.DTYPE.isna()]
    m = ad.merge(lb, on=["USUBJID", "PARAMCD", "LBSEQ"], how="left", suffixes=("_adm", ""),
                 indicator=True)
    low = m.PARAMCD.isin(["PLAT", "WBC"])
    theirs = m.ATOXGRL_V5.where(low, m.ATOXGRH_V5).astype("Float64")
    ours = m.ATOXGRL.where(low, m.ATOXGRH).astype("Float64")
    # Class 0: LB rows without a result (LBSTRESN empty) are listed as unused by the reader;
    # admiral leaves them ungraded (NA).
    missing = m._merge == "left_only"
    assert missing.sum() == 5 and m.loc[missing, "AVAL_adm"].isna().all() and theirs[missing].isna().all()
    graded = m[~missing]
    same = (theirs[~missing] == ours[~missing]).fillna(False)
    assert len(graded) == 9034
    assert int(same.sum()) == 9009
    # Every graded row has a grade in both, and the inputs agree.
    assert ours[~missing].notna().all() and theirs[~missing].notna().all()
    assert ((graded.AVAL.astype(float) - graded.AVAL_adm.astype(float)).abs() < 1e-9).all()
    # Class 1 (baseline definition): admiral's baseline is the last value on/before first dose
    # at any distance (here screening, 15-38 days before); ctit's is section 9's [-14, 0]
    # window. Without a ctit baseline the normal branch applies: > ULN is grade 1, where
    # admiral's abnormal branch (BASE > ULN) gives 0 below 1.5 x BASE.
    diff = graded[~same]
    assert set(diff.PARAMCD) == {"ALT", "AST", "BILI"}
    assert diff.BASE.isna().all() and (diff.BNRIND_adm == "HIGH").all()
    assert (ours[~missing][~same] == 1).all() and (theirs[~missing][~same] == 0).all()
    assert (diff.AVAL > diff.ANRHI).all()
    # Where both have a baseline and the same branch, the grades agree in every row.
    both = graded[graded.BASE.notna() & graded.BASE_adm.notna()]
    assert (theirs[both.index] == ours[both.index]).all()


def test_combined_grade_follows_admiral() -> None:
    """admiral's derive_var_atoxgr: low grades negative, high positive, 0 only when both are 0
    or the other direction has no CTCAE term; else null."""
    from ctit.cdisc.adam import combined_grade

    low = pd.Series([2, 0, 0, None, 0, None], dtype="Float64")
    high = pd.Series([None, 3, 0, 0, None, None], dtype="Float64")
    low_term = pd.Series(["Platelet count decreased", "x", "x", None, "x", None], dtype="object")
    high_term = pd.Series([None, "y", "y", "y", "y", None], dtype="object")
    got = combined_grade(low, high, low_term, high_term).tolist()
    assert got[:4] == [-2, 3, 0, 0]
    assert pd.isna(got[4]) and pd.isna(got[5])   # a 0 low grade with an ungraded high: unknown


def test_adsl_adlb_ig_variables(example_adam) -> None:  # type: ignore[no-untyped-def]
    datasets, results, _ = example_adam
    sl, lb = datasets["ADSL"], datasets["ADLB"]
    p = results.patients.reset_index(drop=True)
    # Population flags are the protocol's included patients (sections 6 and 9), Y/N.
    for flag in ("SAFFL", "ITTFL", "FASFL", "ELIGFL"):
        assert (sl[flag].eq("Y") == p.included.astype(bool)).all() and set(sl[flag]) <= {"Y", "N"}
    treated = sl.TRTSDT.notna()
    assert (sl.ARMCD[treated] == "ATRA").all() and (sl.TRT01P == sl.ARM).fillna(True).all()
    assert sl.SITEID.isna().all() and sl.RACE.isna().all()   # the example has neither: null, not invented
    # AVISIT Day d is on the platelet record the engine chose for landmark d (protocol 7).
    lm = results.derivations.landmarks.dropna(subset=["landmark_count_day"])
    day14 = lb[lb.AVISIT == "Day 14"].set_index("USUBJID")
    expected = lm[lm.landmark_day == 14]
    expected = expected.set_index(expected.patient_id.map(lambda x: f"CTIT-{x}"))
    assert set(day14.index) == set(expected.index)
    assert (day14.PRTDY.loc[expected.index].astype(int) == expected.landmark_count_day.astype(int)).all()
    assert (day14.AVAL.loc[expected.index].astype(float) == expected.landmark_plt.astype(float)).all()
    assert (lb.AVISIT.eq("Baseline") == lb.ABLFL.eq("Y")).all()
    # ASEQ numbers each subject's records 1..n; PCHG = 100 x CHG / BASE.
    assert (lb.groupby("USUBJID").ASEQ.apply(lambda s: list(s) == list(range(1, len(s) + 1)))).all()
    b = lb[lb.BASE.notna() & lb.BASE.ne(0) & lb.AVAL.notna()]
    assert ((b.PCHG.astype(float) - 100 * b.CHG.astype(float) / b.BASE.astype(float)).abs() < 1e-9).all()


def test_adrs_follows_a_protocols_own_categories(tmp_path: Path) -> None:
    """Under iwg-itp-2009 (categories CR, R, NR, NE: protocol file), ADRS's BOR is each
    patient's best response, numbered in that order (MISSING last), with one RSUST record per
    included subject: no category is known to the ADaM code."""
    from typer.testing import CliRunner

    from ctit.cli import app
    from ctit.results import analyze_study

    out = tmp_path / "adam"
    res = CliRunner().invoke(app, ["export", "adam", str(EXAMPLE), str(out), "--protocol", "iwg-itp-2009"])
    assert res.exit_code == 0, res.output
    rs = pd.read_parquet(out / "adrs.parquet")
    patients = analyze_study(read_study(EXAMPLE), load_protocol("iwg-itp-2009")).patients
    patients = patients.set_index(patients.patient_id.map(lambda p: f"CTIT-{p}").rename("USUBJID"))
    best = patients.best_response.astype("object").where(patients.best_response.notna(), "MISSING")
    assert "R" in set(best), "the example has an IWG response (R) that is not a CR"
    bor = rs[rs.PARAMCD == "BOR"].set_index("USUBJID")
    assert bor.AVALC.loc[best.index].tolist() == best.tolist()
    codes = {"CR": 1, "R": 2, "NR": 3, "NE": 4, "MISSING": 5}
    assert bor.AVAL.loc[best.index].astype(float).tolist() == best.map(codes).astype(float).tolist()
    included = patients[patients.included.astype(bool)]
    for code in ("CR", "R"):
        sust = rs[rs.PARAMCD == f"{code}SUST"].set_index("USUBJID")
        assert set(sust.index) == set(included.index)
        onset = included[f"{code.lower()}_onset_day"]
        assert sust.AVALC.loc[included.index].eq("Y").tolist() == onset.notna().tolist()
        assert sust.PRTDY.loc[included.index].astype("Float64").fillna(-1).tolist() == \
            onset.astype("Float64").fillna(-1).tolist()
    assert not rs.PARAMCD.isin(["PRSUST"]).any()
