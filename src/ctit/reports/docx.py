"""report.docx: manuscript-ready tables and figures (python-docx), from the shared table
content of `reports.tables`; numbered captions, footnotes with methods and abbreviations,
and page numbers (a PAGE field) in the footer."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctit.reports.tables import ABBREVIATIONS, ReportTable, methods_text, report_tables, results_text

if TYPE_CHECKING:
    from ctit.reports.figures import RenderedFigure
    from ctit.results import StudyResults

FONT = "Calibri"


def _field(run: Any, instruction: str) -> None:
    """Append a Word field (e.g. PAGE) to a run: begin, instruction, separate, end."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def el(tag: str, **attrs: str) -> Any:
        e = OxmlElement(tag)
        for k, v in attrs.items():
            e.set(qn(k), v)
        return e

    run._r.append(el("w:fldChar", **{"w:fldCharType": "begin"}))
    instr = el("w:instrText", **{"xml:space": "preserve"})
    instr.text = f" {instruction} "
    run._r.append(instr)
    run._r.append(el("w:fldChar", **{"w:fldCharType": "separate"}))
    t = el("w:t")
    t.text = "1"
    run._r.append(t)
    run._r.append(el("w:fldChar", **{"w:fldCharType": "end"}))


def _borders(table: Any) -> None:
    """Three-line (journal) table: rules above and below the header and below the body."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def rule(cell: Any, side: str, size: int) -> None:
        tc_pr = cell._tc.get_or_add_tcPr()
        borders = tc_pr.find(qn("w:tcBorders"))
        if borders is None:
            borders = OxmlElement("w:tcBorders")
            tc_pr.append(borders)
        b = OxmlElement(f"w:{side}")
        b.set(qn("w:val"), "single")
        b.set(qn("w:sz"), str(size))
        b.set(qn("w:color"), "000000")
        borders.append(b)

    for cell in table.rows[0].cells:
        rule(cell, "top", 12)
        rule(cell, "bottom", 6)
    for cell in table.rows[-1].cells:
        rule(cell, "bottom", 12)


def _keep_rows_together(table: Any) -> None:
    """The header row repeats on every page a table spans, no row splits across pages, and a
    table short enough for one page is not broken (each row keeps with the next)."""
    from docx.oxml import OxmlElement

    for i, row in enumerate(table.rows):
        tr_pr = row._tr.get_or_add_trPr()
        tr_pr.append(OxmlElement("w:cantSplit"))
        if i == 0:
            tr_pr.append(OxmlElement("w:tblHeader"))
        if i < len(table.rows) - 1:
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    paragraph.paragraph_format.keep_with_next = True


def add_table(doc: Any, t: ReportTable, number: int, *, font_pt: float = 9) -> None:
    """Caption, the table, then its footnotes."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    cap = doc.add_paragraph(style="Caption")
    cap.add_run(f"Table {number}. ").bold = True
    cap.add_run(t.title)
    cap.paragraph_format.keep_with_next = True
    table = doc.add_table(rows=1 + len(t.rows), cols=len(t.header))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for i, h in enumerate(t.header):
        cell = table.rows[0].cells[i]
        cell.text = ""
        run = cell.paragraphs[0].add_run(h)
        run.bold = True
        run.font.size = Pt(font_pt)
    for r_i, row in enumerate(t.rows, start=1):
        cells = table.rows[r_i].cells
        if row.group:
            merged = cells[0].merge(cells[-1]) if len(cells) > 1 else cells[0]
            merged.text = ""
            run = merged.paragraphs[0].add_run(row.cells[0])
            run.bold = True
            run.font.size = Pt(font_pt)
            continue
        for c_i, text in enumerate(row.cells):
            p = cells[c_i].paragraphs[0]
            run = p.add_run(text)
            run.font.size = Pt(font_pt)
            if c_i == 0 and row.level:
                p.paragraph_format.left_indent = Pt(10 * row.level)
            elif c_i:
                p.alignment = WD_ALIGN_PARAGRAPH.LEFT
    _borders(table)
    _keep_rows_together(table)
    for note in t.footnotes:
        p = doc.add_paragraph()
        run = p.add_run(note)
        run.font.size = Pt(8)
        p.paragraph_format.space_after = Pt(0)
    doc.add_paragraph()


def add_figure(doc: Any, f: RenderedFigure, width_in: float = 6.3) -> None:
    from docx.shared import Inches, Pt

    doc.add_picture(io.BytesIO(f.png), width=Inches(width_in if f.key != "swimmer" else min(width_in, 5.8)))
    doc.paragraphs[-1].paragraph_format.keep_with_next = True
    cap = doc.add_paragraph(style="Caption")
    cap.add_run(f"Figure {f.number}. ").bold = True
    cap.add_run(f"{f.title}. ")
    run = cap.add_run(f.caption + (" Not estimable parts are stated in the panel." if not f.estimable else ""))
    run.font.size = Pt(8)


def build_docx(results: StudyResults, figures: list[RenderedFigure]) -> Any:
    """The Word document: text, Tables 1-n, Figures 1-n, page numbers."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Inches, Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(10.5)
    sec = doc.sections[0]
    sec.left_margin = sec.right_margin = Inches(0.9)
    # Footer: "Page N" with a PAGE field, so Word numbers pages itself.
    fp = sec.footer.paragraphs[0]
    fp.alignment = WD_ALIGN_PARAGRAPH.CENTER
    fp.add_run("Page ")
    _field(fp.add_run(), "PAGE")

    r = results
    doc.add_heading(f"{r.protocol.title}", level=1)
    doc.add_paragraph(f"Protocol {r.protocol.name}; ctit {r.version}.").runs[0].italic = True
    doc.add_heading("Methods", level=2)
    doc.add_paragraph(methods_text(r))
    doc.add_heading("Results", level=2)
    doc.add_paragraph(results_text(r))

    t = report_tables(r)
    doc.add_page_break()
    doc.add_heading("Tables", level=2)
    for number, key in enumerate(("attrition", "table1", "response", "landmarks", "time_to_cr", "subgroups",
                                  "safety"), start=1):
        add_table(doc, t[key], number)
    doc.add_page_break()
    doc.add_heading("Figures", level=2)
    for f in figures:
        add_figure(doc, f)
    doc.add_heading("Abbreviations", level=2)
    doc.add_paragraph(ABBREVIATIONS)
    return doc


def write_docx(results: StudyResults, out: Path, figures: list[RenderedFigure], generated: Any = None) -> Path:
    """report.docx, dated `generated` (default now) inside and out: the same input gives the same bytes."""
    from datetime import datetime, timezone

    from ctit.output import fixed_zip

    when = generated or datetime.now(timezone.utc)
    doc = build_docx(results, figures)
    doc.core_properties.created = doc.core_properties.modified = when.replace(tzinfo=None)
    buffer = io.BytesIO()
    doc.save(buffer)
    path = out / "report.docx"
    path.write_bytes(fixed_zip(buffer.getvalue(), when))
    return path
