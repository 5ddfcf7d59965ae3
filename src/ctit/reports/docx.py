"""report.docx: manuscript-ready tables and figures (python-docx), from the shared table
content of `reports.tables`; numbered captions, footnotes with methods and abbreviations,
and page numbers (a PAGE field) in the footer."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctit.reports.tables import (
    ABBREVIATIONS,
    ReportTable,
    methods_text,
    report_tables,
    results_text,
    suppression_text,
)

if TYPE_CHECKING:
    from ctit.reports.figures import RenderedFigure
    from ctit.results import StudyResults

FONT = "Calibri"
# East Asian text (Chinese tumor types, drug names as written): Word's usual Chinese font; other
# systems substitute their own CJK font (fontconfig: the one `make fonts` installs).
EAST_ASIA_FONT = "SimSun"
# The numbered tables; the patient flow is Figure 1.
DOCX_TABLES = ("table1", "response", "landmarks", "time_to_cr", "subgroups", "safety")


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


# Rows of 9-point text that fit on one page under a caption; a longer table flows across
# pages (kept whole it would jump to the next page and leave a near-empty one behind).
ONE_PAGE_ROWS = 34


def _keep_rows_together(table: Any) -> None:
    """The header row repeats on every page a table spans, no row splits across pages, and a
    table short enough for one page is not broken (each row keeps with the next)."""
    from docx.oxml import OxmlElement

    short = len(table.rows) <= ONE_PAGE_ROWS
    for i, row in enumerate(table.rows):
        tr_pr = row._tr.get_or_add_trPr()
        tr_pr.append(OxmlElement("w:cantSplit"))
        if i == 0:
            tr_pr.append(OxmlElement("w:tblHeader"))
        if i < len(table.rows) - 1 and (short or i == 0):
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    paragraph.paragraph_format.keep_with_next = True


# A cell that reads as a number, count, p-value, range or "not estimable": right-aligned.
_NUMERIC_START = re.compile(r"^(?:[<>]?\.?\d|-\d|not estimable|not reached|\u2013$)")
TEXT_WIDTH_IN = 6.7


def _column_widths(table: Any, t: ReportTable) -> None:
    """Widths by content: each column in proportion to its longest cell (capped, so one long
    label cannot starve the numbers), so a label such as "Liver enzymes increased (ALT/AST)"
    wraps over two lines at most and numbers stay on one."""
    from docx.shared import Inches

    ncols = len(t.header)
    if ncols < 2:
        return
    longest = [max([len(w) for w in t.header[i].split()] + [len(r.cells[i]) for r in t.rows
                                                            if not r.group and len(r.cells) > i] + [4])
               for i in range(ncols)]
    weights = [min(n, 42 if i == 0 else 24) + 2 for i, n in enumerate(longest)]
    widths = [TEXT_WIDTH_IN * w / sum(weights) for w in weights]
    table.autofit = False
    for i, col in enumerate(table.columns):
        col.width = Inches(widths[i])
    for row in table.rows:
        for i, cell in enumerate(row.cells):
            cell.width = Inches(widths[i])


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
        cell.paragraphs[0].paragraph_format.space_after = Pt(0)
    for r_i, row in enumerate(t.rows, start=1):
        cells = table.rows[r_i].cells
        if row.group:
            merged = cells[0].merge(cells[-1]) if len(cells) > 1 else cells[0]
            merged.text = ""
            run = merged.paragraphs[0].add_run(row.cells[0])
            run.bold = True
            run.font.size = Pt(font_pt)
            merged.paragraphs[0].paragraph_format.keep_with_next = True   # a heading row never ends a page
            merged.paragraphs[0].paragraph_format.space_after = Pt(0)
            continue
        for c_i, text in enumerate(row.cells):
            p = cells[c_i].paragraphs[0]
            run = p.add_run(text)
            run.font.size = Pt(font_pt)
            p.paragraph_format.space_after = Pt(0)
            if c_i == 0 and row.level:
                p.paragraph_format.left_indent = Pt(10 * row.level)
            elif c_i:
                numeric = t.align_numbers and _NUMERIC_START.match(text) is not None
                p.alignment = WD_ALIGN_PARAGRAPH.RIGHT if numeric else WD_ALIGN_PARAGRAPH.LEFT
    for i, cell in enumerate(table.rows[0].cells):
        body = [r.cells[i] for r in t.rows if not r.group and len(r.cells) > i and r.cells[i]]
        if i and t.align_numbers and body and _NUMERIC_START.match(body[0]):
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _column_widths(table, t)
    _borders(table)
    _keep_rows_together(table)
    if len(table.rows) <= ONE_PAGE_ROWS and t.footnotes:
        # A short table keeps its footnotes on its page.
        for cell in table.rows[-1].cells:
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.keep_with_next = True
    for i, note in enumerate(t.footnotes):
        p = doc.add_paragraph()
        run = p.add_run(note)
        run.font.size = Pt(8)
        p.paragraph_format.space_after = Pt(0)
        p.paragraph_format.keep_with_next = i < len(t.footnotes) - 1
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
    from docx.oxml.ns import qn
    from docx.shared import RGBColor

    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(10.5)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), EAST_ASIA_FONT)
    # Journal captions: black, upright, text size (Word's default is small blue italics).
    caption = doc.styles["Caption"]
    caption.font.color.rgb = RGBColor(0, 0, 0)
    caption.font.italic = False
    caption.font.bold = False
    caption.font.size = Pt(10)
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
    if suppression_text(r):
        doc.add_paragraph(suppression_text(r)).runs[0].italic = True

    t = report_tables(r)
    doc.add_page_break()
    doc.add_heading("Tables", level=2)
    for number, key in enumerate(DOCX_TABLES, start=1):
        add_table(doc, t[key], number)
    doc.add_page_break()
    doc.add_heading("Figures", level=2)
    for f in figures:
        if f.key != "tornado":
            add_figure(doc, f)
    if r.sensitivity:
        from ctit.reports.sensitivity import TITLE, sensitivity_table, sensitivity_text

        doc.add_page_break()
        doc.add_heading(TITLE, level=2)
        doc.add_paragraph(sensitivity_text(r))
        add_table(doc, sensitivity_table(r), len(DOCX_TABLES) + 1)
        for f in figures:
            if f.key == "tornado":
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
