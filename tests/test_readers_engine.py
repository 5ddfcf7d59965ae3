"""Readers on the engine: Parquet folders and DuckDB database files read like the CSV folder,
date formats and coded words come from the knowledge files, and many bad cells are listed
first-few-and-a-count."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ctit import knowledge
from ctit.errors import InputError
from ctit.readers import read_study
from ctit.readers.cells import LISTED_PER_CHECK

EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))
TABLES = ("patients", "exposures", "labs", "transfusions", "bleeding", "adverse_events")


def _same(a, b) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name).drop(columns=[], errors="ignore"),
                                      getattr(b, name), check_dtype=False, obj=name)


def test_a_parquet_folder_reads_like_the_csv_folder(tmp_path):
    con = duckdb.connect()
    for name in TABLES:
        con.execute(f"COPY (SELECT * FROM read_csv('{EXAMPLE / (name + '.csv')}', all_varchar=true)) "
                    f"TO '{tmp_path / (name + '.parquet')}' (FORMAT parquet)")
    _same(read_study(tmp_path), read_study(EXAMPLE))


def test_a_duckdb_database_reads_like_the_csv_folder(tmp_path):
    db = tmp_path / "study.duckdb"
    con = duckdb.connect(str(db))
    for name in TABLES:
        # Typed columns (integers, doubles), as a database holds them: read back as the same values.
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{EXAMPLE / (name + '.csv')}')")
    con.close()
    study = read_study(db)
    example = read_study(EXAMPLE)
    pd.testing.assert_frame_equal(study.labs[["patient_id", "day", "test", "value", "source_row"]],
                                  example.labs[["patient_id", "day", "test", "value", "source_row"]])
    assert len(study.patients) == len(example.patients)


def test_date_formats_added_to_the_knowledge_file_are_honoured(tmp_path, monkeypatch):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "patients.csv").write_text("patient_id\nP1\n")
    (folder / "exposures.csv").write_text("patient_id,drug,start_date\nP1,ATRA,2024/03/01\n")
    (folder / "labs.csv").write_text("patient_id,date,test,value,unit\nP1,2024年03月05日,PLT,40,10^9/L\n")
    # The shipped file already lists these formats: start from ISO alone, then add them.
    monkeypatch.setattr(knowledge, "date_formats", lambda: ("%Y-%m-%d",))
    with pytest.raises(InputError, match="not an ISO 8601 date"):
        read_study(folder)
    monkeypatch.setattr(knowledge, "date_formats", lambda: ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日"))
    study = read_study(folder)
    assert study.labs.day.tolist() == [4]


def test_many_bad_cells_list_the_first_and_count_the_rest(tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(EXAMPLE, folder)
    labs = pd.read_csv(folder / "labs.csv", dtype=str)
    bad = 150
    labs.loc[: bad - 1, "value"] = "high"
    labs.to_csv(folder / "labs.csv", index=False)
    with pytest.raises(InputError) as exc:
        read_study(folder)
    listed = [p for p in exc.value.errors if p.column == "value" and p.row is not None]
    assert len(listed) == LISTED_PER_CHECK
    assert [p.row for p in listed] == list(range(2, 2 + LISTED_PER_CHECK))
    rest = [p for p in exc.value.errors if p.row is None and p.column == "value"]
    assert len(rest) == 1 and rest[0].message.startswith(f"{bad - LISTED_PER_CHECK} more rows")


def test_the_engine_spills_to_a_temporary_folder_of_its_own(tmp_path, monkeypatch):
    """Past its memory limit DuckDB writes to disk: never into the working directory (its
    default `.tmp`, beside a user's study), but under the system's temporary folder, in a
    folder per connection that goes when the connection closes."""
    import os
    import tempfile

    from ctit.engine.local import duckdb_connect

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system-tmp"))
    (tmp_path / "system-tmp").mkdir()
    con, other = duckdb_connect(), duckdb_connect()
    spill = con.sql("SELECT current_setting('temp_directory')").fetchone()[0]
    assert spill != other.sql("SELECT current_setting('temp_directory')").fetchone()[0]
    con.execute("SET memory_limit = '100MB'")
    con.execute("CREATE TEMP TABLE t AS SELECT range AS r, md5(range::VARCHAR) AS s FROM range(3000000)")
    assert Path(spill).parent == tmp_path / "system-tmp" and os.listdir(spill)
    assert not (tmp_path / ".tmp").exists()
    con.close()
    other.close()
    assert not Path(spill).exists()
