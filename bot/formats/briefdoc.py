"""The 简报 as the office issues it: DOCX, PDF and a PNG of the tip table.

A ``BriefDocument`` is plain data, its words already in the reader's language (the domain
fills it from the catalogue): cover (title, 第N期, office, date), 本期导读, 【工作动态】 and
【工作信息】 items, the official tip table with its 截止日期 and the week's new tips, the
ranking with its movement, plan progress (only when there are plans), the units named
for overdue tips (通报) and the 报/发 footer. ``blocks`` lays it out once; the DOCX and the
PDF draw the same blocks.

Fonts: the customary look is a 方正小标宋 title, 黑体 headings and a 仿宋_GB2312 body. The
DOCX names those (``w:eastAsia``, by their English family names, which Word resolves on an
office PC) so Word uses them where installed. The PDF embeds the fonts installed with
the project: Noto Sans CJK Bold for the title and headings and Noto Sans CJK Regular for
the body (no serif/仿宋-style CJK font is packaged for pip), subset into the file, so it
reads the same anywhere. A character neither font can draw is left out of the PDF
rather than printed as a box; the DOCX keeps it.

Pure and CPU-bound: callers run it in a thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.formats.chart import font_path

# The customary official-document fonts, by the family names Word knows them by.
TITLE_FONT = "FZXiaoBiaoSong-B05S"  # 方正小标宋简体
HEADING_FONT = "SimHei"  # 黑体
BODY_FONT = "FangSong_GB2312"  # 仿宋_GB2312
LATIN_FONT = "Times New Roman"

# GB/T 9704 sizes: title 二号 (22 pt), body 三号 (16 pt); tables a little smaller.
TITLE_PT, BODY_PT, TABLE_PT, SMALL_PT = 22, 16, 11, 12
RED = (200, 0, 0)
PHOTO_MM = 100  # a photo's printed width


@dataclass(frozen=True)
class DocItem:
    """One item: its heading as printed ("卧龙区：全面梳理 压实责任" for a unit's) and text."""

    heading: str
    body: str
    photos: tuple[bytes, ...] = ()  # JPEG/PNG, printed under the text


@dataclass(frozen=True)
class DocTable:
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    caption: str = ""
    note: str = ""  # a line under the caption (截止日期) or the table
    widths: tuple[float, ...] = ()  # relative column widths (default: the first wider)


@dataclass(frozen=True)
class BriefDocument:
    title: str
    number_line: str  # 第N期
    office: str
    date_line: str  # the date, as printed
    contents_heading: str
    contents: list[str]  # 本期导读: the included items' titles, in order
    news_heading: str
    news: list[DocItem]  # 【工作动态】 from the issuing level
    info_heading: str
    info: list[DocItem]  # 【工作信息】 from the units
    tips_heading: str
    tips: DocTable
    week_line: str  # the week's new tips
    ranking_heading: str
    ranking: DocTable
    overdue_heading: str
    overdue: list[str]  # 通报: the sentences naming units with overdue tips
    footer: list[str]  # 报：… 发：…
    plans_heading: str = ""
    plans: DocTable | None = None  # plan progress; None (no section) when there are no plans
    indent: str = ""  # put before a paragraph of the PDF (two ideographic spaces in Chinese)


# ---------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Block:
    kind: str  # title, center, mast, rule, heading, para, lead, image, table, footer
    text: str = ""
    right: str = ""
    table: DocTable | None = None
    data: bytes = b""  # an image's


def blocks(doc: BriefDocument) -> list[Block]:
    """The document in reading order."""
    out = [
        Block("title", doc.title),
        Block("center", doc.number_line),
        Block("mast", doc.office, right=doc.date_line),
        Block("rule"),
    ]
    if doc.contents:
        out.append(Block("heading", doc.contents_heading))
        out += [Block("para", f"{n}. {title}") for n, title in enumerate(doc.contents, 1)]
    for heading, items in ((doc.news_heading, doc.news), (doc.info_heading, doc.info)):
        if items:
            out.append(Block("heading", heading))
            for item in items:
                out.append(Block("lead", item.heading))
                if item.body:
                    out.append(Block("para", item.body))
                out += [Block("image", data=photo) for photo in item.photos]
    out += [Block("heading", doc.tips_heading), Block("table", table=doc.tips)]
    out.append(Block("para", doc.week_line))
    out += [Block("heading", doc.ranking_heading), Block("table", table=doc.ranking)]
    if doc.plans is not None:
        out += [Block("heading", doc.plans_heading), Block("table", table=doc.plans)]
    if doc.overdue:
        out.append(Block("heading", doc.overdue_heading))
        out += [Block("para", line) for line in doc.overdue]
    out.append(Block("footer", "\n".join(doc.footer)))
    return out


def all_text(doc: BriefDocument) -> str:
    """Every character the document prints (for the glyph check)."""
    parts: list[str] = []
    for block in blocks(doc):
        parts += [block.text, block.right]
        if block.table is not None:
            parts += [block.table.caption, block.table.note, *block.table.headers]
            parts += [cell for row in block.table.rows for cell in row]
    return "".join(parts)


# ---------------------------------------------------------------------- fonts


@cache
def bold_font_path() -> Path:
    import cvttf_NotoSansCJK_Bold as bold

    return Path(bold.get_TTF_path())


@cache
def charmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


def drawable(text: str, path: Path) -> str:
    """``text`` without the characters the font at ``path`` has no glyph for."""
    known = charmap(path)
    return "".join(ch for ch in text if ch in "\n\t " or ord(ch) in known)


# ---------------------------------------------------------------------- DOCX


def docx_bytes(doc: BriefDocument) -> bytes:
    """The document as DOCX: A4, official margins, 小标宋/黑体/仿宋 by East Asian font."""
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt, RGBColor

    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)

    def font(run: object, east_asia: str, size: float, bold: bool = False) -> None:
        run.font.name = LATIN_FONT  # type: ignore[attr-defined]
        run.font.size = Pt(size)  # type: ignore[attr-defined]
        run.font.bold = bold  # type: ignore[attr-defined]
        fonts = run._element.get_or_add_rPr().get_or_add_rFonts()  # type: ignore[attr-defined]
        fonts.set(qn("w:eastAsia"), east_asia)

    normal = document.styles["Normal"]
    normal.font.name = LATIN_FONT
    normal.font.size = Pt(BODY_PT)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)

    def paragraph(text: str, east_asia: str, size: float, **kw: object) -> object:
        para = document.add_paragraph()
        if kw.get("center"):
            para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = para.add_run(text)
        font(run, east_asia, size, bool(kw.get("bold")))
        if kw.get("red"):
            run.font.color.rgb = RGBColor(*RED)
        return para

    for block in blocks(doc):
        if block.kind == "title":
            paragraph(block.text, TITLE_FONT, TITLE_PT + 4, center=True, red=True)
        elif block.kind == "center":
            paragraph(block.text, BODY_FONT, BODY_PT, center=True)
        elif block.kind == "mast":
            para = document.add_paragraph()
            run = para.add_run(block.text)
            font(run, BODY_FONT, SMALL_PT + 2)
            run = para.add_run("\t" + block.right)
            font(run, BODY_FONT, SMALL_PT + 2)
            para.paragraph_format.tab_stops.add_tab_stop(Mm(156), 2)  # right-aligned
        elif block.kind == "rule":
            _red_rule(document.add_paragraph(), qn)
        elif block.kind == "heading":
            paragraph(block.text, HEADING_FONT, BODY_PT, bold=True)
        elif block.kind == "lead":
            paragraph(block.text, BODY_FONT, BODY_PT, bold=True)
        elif block.kind == "image":
            document.add_picture(io.BytesIO(block.data), width=Mm(PHOTO_MM))
            document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif block.kind == "para":
            para = paragraph(block.text, BODY_FONT, BODY_PT)
            para.paragraph_format.first_line_indent = Pt(BODY_PT * 2)  # type: ignore[attr-defined]
        elif block.kind == "table" and block.table is not None:
            table = block.table
            if table.caption:
                paragraph(table.caption, HEADING_FONT, SMALL_PT + 2, center=True, bold=True)
            if table.note:
                paragraph(table.note, BODY_FONT, SMALL_PT)
            grid = document.add_table(rows=1 + len(table.rows), cols=len(table.headers))
            grid.style = "Table Grid"
            grid.alignment = WD_TABLE_ALIGNMENT.CENTER
            lines = [table.headers, *table.rows]
            for r, (row, line) in enumerate(zip(grid.rows, lines, strict=True)):
                for cell, value in zip(row.cells, line, strict=True):
                    para = cell.paragraphs[0]
                    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    run = para.add_run(value)
                    font(run, HEADING_FONT if r == 0 else BODY_FONT, TABLE_PT, r == 0)
        elif block.kind == "footer":
            _rule(document.add_paragraph(), qn, "000000")
            for line in block.text.splitlines():
                paragraph(line, BODY_FONT, SMALL_PT + 2)
            _rule(document.add_paragraph(), qn, "000000")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _red_rule(para: object, qn: object) -> None:
    _rule(para, qn, "C80000", size=18)


def _rule(para: object, qn: object, color: str, size: int = 6) -> None:
    from docx.oxml import OxmlElement

    ppr = para._p.get_or_add_pPr()  # type: ignore[attr-defined]
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", str(size)), ("space", "1"), ("color", color)):
        bottom.set(qn(f"w:{key}"), value)  # type: ignore[operator]
    borders.append(bottom)
    ppr.append(borders)


# ---------------------------------------------------------------------- PDF


def pdf_bytes(doc: BriefDocument) -> bytes:
    """The document as PDF (A4), its fonts embedded."""
    from fpdf import FPDF
    from fpdf.enums import Align, WrapMode, XPos, YPos

    regular, bold = font_path(), bold_font_path()
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(28, 30, 26)
    pdf.set_auto_page_break(True, margin=28)
    pdf.add_font("body", "", str(regular))
    pdf.add_font("head", "", str(bold))
    pdf.add_page()
    width = pdf.epw
    mm_per_pt = 0.3528

    indent_text = doc.indent

    def write(
        text: str,
        family: str,
        size: float,
        align: Align = Align.J,
        indent: bool = False,
        color: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        path = bold if family == "head" else regular
        pdf.set_font(family, size=size)
        pdf.set_text_color(*color)
        line = drawable(text, path)
        if indent:
            line = drawable(indent_text, path) + line
        pdf.multi_cell(
            width,
            size * mm_per_pt * 1.6,
            line,
            align=align,
            wrapmode=WrapMode.CHAR,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    for block in blocks(doc):
        if block.kind == "title":
            write(block.text, "head", TITLE_PT + 4, Align.C, color=RED)
            pdf.ln(2)
        elif block.kind == "center":
            write(block.text, "body", BODY_PT, Align.C)
        elif block.kind == "mast":
            pdf.set_font("body", size=SMALL_PT + 2)
            height = (SMALL_PT + 2) * mm_per_pt * 1.6
            pdf.cell(width / 2, height, drawable(block.text, regular), align=Align.L)
            pdf.cell(
                width / 2,
                height,
                drawable(block.right, regular),
                align=Align.R,
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
        elif block.kind == "rule":
            pdf.set_draw_color(*RED)
            pdf.set_line_width(0.8)
            y = pdf.get_y() + 1
            pdf.line(pdf.l_margin, y, pdf.l_margin + width, y)
            pdf.set_y(y + 4)
        elif block.kind == "heading":
            if pdf.get_y() > pdf.page_break_trigger - 45:  # keep a heading with what follows
                pdf.add_page()
            pdf.ln(1)
            write(block.text, "head", BODY_PT - 1, Align.L)
        elif block.kind == "lead":
            write(block.text, "head", BODY_PT - 2, Align.L)
        elif block.kind == "image":
            pdf.image(io.BytesIO(block.data), x=pdf.l_margin + (width - PHOTO_MM) / 2, w=PHOTO_MM)
            pdf.ln(2)
        elif block.kind == "para":
            write(block.text, "body", BODY_PT - 2, indent=True)
        elif block.kind == "table" and block.table is not None:
            _pdf_table(pdf, block.table, regular, bold, width, mm_per_pt)
        elif block.kind == "footer":
            pdf.ln(4)
            pdf.set_draw_color(0, 0, 0)
            pdf.set_line_width(0.3)
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
            pdf.ln(1)
            for line in block.text.splitlines():
                write(line, "body", SMALL_PT, Align.L)
            pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.l_margin + width, pdf.get_y() + 1)
    return bytes(pdf.output())


def _pdf_table(
    pdf: object, table: DocTable, regular: Path, bold: Path, width: float, mm_per_pt: float
) -> None:
    from fpdf.enums import Align, TableCellFillMode, XPos, YPos

    p = pdf  # an FPDF
    if table.caption:
        p.set_font("head", size=SMALL_PT + 1)  # type: ignore[attr-defined]
        p.multi_cell(
            width,
            (SMALL_PT + 1) * mm_per_pt * 1.6,
            drawable(table.caption, bold),  # type: ignore[attr-defined]
            align=Align.C,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    if table.note:
        p.set_font("body", size=SMALL_PT - 1)  # type: ignore[attr-defined]
        p.multi_cell(
            width,
            (SMALL_PT - 1) * mm_per_pt * 1.6,
            drawable(table.note, regular),  # type: ignore[attr-defined]
            align=Align.R,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    p.set_font("body", size=TABLE_PT)  # type: ignore[attr-defined]
    p.set_draw_color(0, 0, 0)  # type: ignore[attr-defined]
    p.set_line_width(0.2)  # type: ignore[attr-defined]
    first = 2.2 if len(table.headers) > 3 else 1.5
    widths = table.widths or (first, *(1.0 for _ in table.headers[1:]))
    with p.table(  # type: ignore[attr-defined]
        col_widths=widths,
        text_align="CENTER",
        line_height=TABLE_PT * mm_per_pt * 1.7,
        headings_style=_heading_style(),
        cell_fill_mode=TableCellFillMode.NONE,
    ) as grid:
        for line in [table.headers, *table.rows]:
            row = grid.row()
            for value in line:
                row.cell(drawable(value, regular))
    p.ln(2)  # type: ignore[attr-defined]


def _heading_style() -> object:
    from fpdf.fonts import FontFace

    return FontFace(family="head", emphasis=None, size_pt=TABLE_PT)


# ---------------------------------------------------------------------- PNG


def table_png(table: DocTable, title: str) -> bytes:
    """The table as a picture for reading in chat (Noto Sans CJK, 2× scale)."""
    from PIL import Image, ImageDraw, ImageFont

    scale = 2
    head = ImageFont.truetype(str(bold_font_path()), 15 * scale)
    body = ImageFont.truetype(str(font_path()), 14 * scale)
    pad, row_h = 10 * scale, 30 * scale
    lines = [table.headers, *table.rows]
    widths = [
        max(int(body.getlength(line[c])) for line in lines) + 2 * pad
        for c in range(len(table.headers))
    ]
    note_h = row_h if table.note else 0
    width = sum(widths) + 2 * pad
    height = row_h + note_h + row_h * len(lines) + 2 * pad
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((width // 2, pad + row_h // 2), title, font=head, fill="black", anchor="mm")
    if table.note:
        draw.text(
            (width - pad, pad + row_h + row_h // 2),
            table.note,
            font=body,
            fill="black",
            anchor="rm",
        )
    top = pad + row_h + note_h
    for r, line in enumerate(lines):
        y = top + r * row_h
        x = pad
        if r == 0:
            draw.rectangle((pad, y, width - pad, y + row_h), fill=(235, 235, 235))
        for c, value in enumerate(line):
            draw.rectangle((x, y, x + widths[c], y + row_h), outline="black", width=scale)
            draw.text(
                (x + widths[c] // 2, y + row_h // 2),
                value,
                font=head if r == 0 else body,
                fill="black",
                anchor="mm",
            )
            x += widths[c]
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
