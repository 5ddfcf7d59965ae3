"""Definition-sensitivity analysis: one study under many response definitions.

`sensitivity_definitions` lists the definitions: the protocol itself, each protocol of the
library, and one-at-a-time variations of the protocol's key parameters. `run_sensitivity`
reads the study once, grades its labs once per grading setup (CTCAE version and limits),
and runs the derivations of every distinct definition on one engine connection; only the
per-patient table is fetched. Each definition's CR, PR and ORR carry exact CIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ctit.protocol import BUNDLED, Protocol, load_protocol
from ctit.stats import clopper_pearson
from ctit.study import Study

# One-at-a-time variations: (parameter, values); each value replaces the protocol's.
VARIATIONS: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("sustain_days", (7, 14)),
    ("transfusion_washout_days", (0, 3, 7)),
    ("cr_threshold", (75, 100)),
    ("use_individual_baseline", (False,)),
    ("landmark_window_days", (2, 3, 7)),
    ("ctcae_version", ("5.0", "6.0")),
)


@dataclass(frozen=True)
class Definition:
    key: str          # unique, e.g. "protocol", "library:iwg-itp-2009", "sustain_days=14"
    group: str        # "protocol", "library" or the varied parameter
    label: str
    protocol: Protocol
    changed: str = ""  # what differs from the protocol as analysed, in words


def sensitivity_definitions(base: Protocol) -> list[Definition]:
    """The protocol, the library and the variations, in that order."""
    out = [Definition("protocol", "protocol", f"{base.name} (as analysed)", base, "none (main analysis)")]
    for name in BUNDLED:
        if name != base.name:
            lib = load_protocol(name)
            out.append(Definition(f"library:{name}", "library", name, lib, _differences(base, lib)))
    params = base.as_dict()
    for name, values in VARIATIONS:
        for value in values:
            p = load_protocol(overrides={**params, name: value})
            changed = (f"none ({name} = {value} as analysed)" if params[name] == value
                       else f"{name}: {params[name]} \u2192 {value}")
            out.append(Definition(f"{name}={value}", name, f"{name} = {value}", p, changed))
    return out


def _differences(base: Protocol, other: Protocol) -> str:
    """The parameters in which `other` differs from `base`, by name."""
    a, b = base.as_dict(), other.as_dict()
    names = [k for k in b if k not in ("name", "title", "reference", "not_encoded") and a.get(k) != b[k]]
    return "library protocol; differs in " + ", ".join(names) if names else "library protocol; same rules"


def _grading_key(p: Protocol) -> tuple[Any, ...]:
    return (p.ctcae_version, p.default_platelet_lln, p.default_enzyme_uln, p.enzyme_baseline_lookback_days)


def _rules_key(p: Protocol) -> str:
    d = p.as_dict()
    for k in ("name", "title", "reference", "not_encoded"):
        d.pop(k)
    return repr(sorted(d.items()))


def _rate(k: int, n: int, level: float) -> dict[str, Any]:
    ci = clopper_pearson(k, n, level=level)
    return {"n": k, "pct": ci.pct, "ci_low": ci.ci95_low, "ci_high": ci.ci95_high}


def summarize_definition(d: Definition, patients: pd.DataFrame) -> dict[str, Any]:
    """CR, PR and ORR (with exact CIs), every category's count and the median landmark
    changes under one definition."""
    p = d.protocol
    inc = patients[patients.included.astype(bool)]
    n = int(len(inc))
    best = inc.best_response.astype(str)
    responders = [r.category for r in p.response_rules if r.counts_as_response]
    row: dict[str, Any] = {"key": d.key, "group": d.group, "definition": d.label, "changed": d.changed,
                           "protocol": p.name,
                           "ctcae_version": p.ctcae_version, "n": n}
    for code in ("CR", "PR"):
        r = _rate(int((best == code).sum()), n, p.ci_level)
        row.update({f"{code.lower()}_{k}": v for k, v in r.items()})
    r = _rate(int(best.isin(responders).sum()), n, p.ci_level)
    row.update({f"orr_{k}": v for k, v in r.items()})
    # The landmark variations move only the landmarks: their median change shows it.
    for day in p.landmark_days:
        change = pd.to_numeric(inc[f"change_d{day}"], errors="coerce").dropna()
        row[f"median_change_d{day}"] = float(change.median()) if len(change) else None
    codes = [r.category for r in p.response_rules] + ["NR", "NE"]
    row["categories"] = "; ".join(f"{c} {int((best == c).sum())}" for c in codes)
    row["orr_of"] = " + ".join(responders)
    return row


def run_sensitivity(study: Study, base: Protocol, con: Any = None,
                    definitions: list[Definition] | None = None,
                    patients: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study under every definition (default: `sensitivity_definitions(base)`): one row per
    definition (see `summarize_definition`); identical definitions are derived once.
    `patients`: the per-patient table already derived under `base` (the main analysis), reused
    for every definition with the same rules."""
    from ctit.engine import backend
    from ctit.engine.analysis import build_derivations, derive_graded_labs

    con = con or backend.connect()
    tables = backend.study_tables(con, study)
    definitions = definitions or sensitivity_definitions(base)
    graded: dict[tuple[Any, ...], Any] = {}
    done: dict[str, pd.DataFrame] = {} if patients is None else {_rules_key(base): patients}
    rows = []
    for d in definitions:
        p = d.protocol
        key = _rules_key(p)
        if key not in done:
            g = _grading_key(p)
            if g not in graded:
                graded[g] = backend.materialize(con, f"ctit_sens_graded_{len(graded)}",
                                                derive_graded_labs(tables["labs"], p))
            expr = build_derivations({**tables, "graded_labs": graded[g]}, p, con)
            done[key] = backend.fetch(con, expr["patients"], "patients")
        rows.append({**summarize_definition(d, done[key]), "same_as_protocol": key == _rules_key(base)})
    out = pd.DataFrame(rows)
    base_orr = out.loc[out.key == "protocol", "orr_pct"].iloc[0]
    out["orr_difference"] = out.orr_pct - base_orr
    return out


def tornado_figure(table: pd.DataFrame) -> Any:
    """ORR under each variation and library protocol, as bars from the protocol's ORR."""
    from matplotlib.figure import Figure

    base = float(table.loc[table.key == "protocol", "orr_pct"].iloc[0])
    rows = table[table.key != "protocol"].copy()
    rows["span"] = rows.orr_difference.abs()
    order = rows.groupby("group").span.max().sort_values().index.tolist()
    rows["_g"] = rows.group.map({g: i for i, g in enumerate(order)})
    rows = rows.sort_values(["_g", "orr_pct"])
    fig = Figure(figsize=(6.5, 0.9 + 0.24 * len(rows)), layout="constrained")
    ax = fig.subplots()
    y = range(len(rows))
    colors = ["#0072B2" if d >= 0 else "#D55E00" for d in rows.orr_difference]
    ax.barh(list(y), rows.orr_difference.tolist(), left=base, color=colors, height=.6)
    for yi, (_, r) in zip(y, rows.iterrows()):
        ax.plot([r.orr_ci_low, r.orr_ci_high], [yi, yi], color="black", lw=.6)
    ax.axvline(base, color="black", lw=.9)
    ax.set_yticks(list(y), rows.definition.tolist(), fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"ORR, % (protocol: {base:.1f}%; lines: exact CIs)")
    ax.set_title("Sensitivity of the ORR to the response definition", fontsize=9)
    return fig


def write_sensitivity(table: pd.DataFrame, out: Any) -> list[Any]:
    """sensitivity.csv, sensitivity.json and the tornado plot (PNG, SVG) in `out`."""
    import json
    from pathlib import Path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "sensitivity.csv"
    table.to_csv(csv, index=False)
    js = out / "sensitivity.json"
    records = json.loads(table.to_json(orient="records"))
    js.write_text(json.dumps({"definitions": records}, indent=2) + "\n", encoding="utf-8")
    fig = tornado_figure(table)
    png, svg = out / "tornado.png", out / "tornado.svg"
    fig.savefig(png, dpi=300)
    fig.savefig(svg)
    return [csv, js, png, svg]
