"""Write ADaM datasets: SAS transport v5 `.xpt` and Parquet, plus the metadata sheet (CSV, XLSX).

Transport v5 (the FDA's format): names <= 8 characters, labels <= 40, values <= 200 bytes,
checked before writing (`ctit.cdisc.domains.write_xpt`). Dates are SAS dates (days since
1960-01-01) with format DATE9., datetimes SAS datetimes (seconds) with DATETIME20.; Parquet
keeps them as dates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ctit.cdisc.domains import write_xpt
from ctit.cdisc.metadata import sheet, variable

LABELS = {"ADSL": "Subject-Level Analysis Dataset", "ADLB": "Laboratory Analysis Dataset (CTCAE v5)",
          "ADRS": "Platelet Response Analysis Dataset", "ADTTE": "Time-to-Event Analysis Dataset"}
SAS_EPOCH = pd.Timestamp(dt.date(1960, 1, 1))


def _xpt_ready(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    out = frame.copy()
    types: dict[str, str] = {}
    formats: dict[str, str] = {}
    for c in out.columns:
        kind = variable(name, c).type
        if kind == "date":
            out[c] = (pd.to_datetime(out[c]) - SAS_EPOCH).dt.days.astype("float64")
            types[c], formats[c] = "num", "DATE9"
        elif kind == "datetime":
            out[c] = (pd.to_datetime(out[c]) - SAS_EPOCH).dt.total_seconds().astype("float64")
            types[c], formats[c] = "num", "DATETIME20"
        else:
            types[c] = kind
    return out, types, formats


def write_adam(datasets: dict[str, pd.DataFrame], out: Path,
               formats: tuple[str, ...] = ("xpt", "parquet"), study_name: str = "") -> list[Path]:
    """Write each dataset, the metadata sheet and define.xml into `out`; the paths written."""
    import pyreadstat

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = sheet(datasets)  # refuses variables without metadata before anything is written
    written: list[Path] = []
    for name, frame in datasets.items():
        labels = {c: variable(name, c).label for c in frame.columns}
        if "xpt" in formats:
            data, types, fmts = _xpt_ready(frame, name)
            path = out / f"{name.lower()}.xpt"
            write_xpt(data, path, name, LABELS[name], labels, types)
            if fmts:   # dates: rewrite with their display format (write_xpt checked the limits)
                from ctit.cdisc.domains import xpt_frame

                pyreadstat.write_xport(xpt_frame(data, types), str(path), file_label=LABELS[name],
                                       column_labels=labels, table_name=name, file_format_version=5,
                                       variable_format=fmts)
            written.append(path)
        if "parquet" in formats:
            path = out / f"{name.lower()}.parquet"
            frame.convert_dtypes().to_parquet(path, index=False)
            written.append(path)
    meta.to_csv(out / "metadata.csv", index=False)
    meta.to_excel(out / "metadata.xlsx", index=False, sheet_name="variables")
    written += [out / "metadata.csv", out / "metadata.xlsx"]
    if "xpt" in formats:
        from ctit.cdisc.define import write_define

        adsl = datasets.get("ADSL")
        study_id = str(adsl.STUDYID.iloc[0]) if adsl is not None and len(adsl) else "CTIT"
        written.append(write_define(datasets, out, standard="ADaM", study_id=study_id,
                                    study_name=study_name or study_id, dataset_labels=LABELS))
    return written
