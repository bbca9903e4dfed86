"""The score chart of a ranking: a horizontal bar chart as PNG bytes, Chinese labels
drawn with Noto Sans CJK (the ``cvttf-NotoSansCJK-Regular`` package ships the font, so a
server needs no system fonts). Pure: a ranking in, bytes out; CPU-bound, so callers run
it in a thread. Uses matplotlib's object API (no pyplot state), one figure per call;
matplotlib is imported on the first chart (a second of start-up a bot that never draws
one does not pay).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the records rendered; formats never import the domain at run time
    from bot.domain.ranking import Ranking


@cache
def font_path() -> Path:
    import cvttf_NotoSansCJK_Regular as noto

    return Path(noto.get_TTF_path())


@cache
def _charmap() -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(str(font_path())).get_charmap())


def missing_glyphs(text: str) -> set[str]:
    """Characters of ``text`` the chart font cannot draw (they would come out as boxes)."""
    known = _charmap()
    return {ch for ch in text if not ch.isspace() and ord(ch) not in known}


def score_chart(ranking: Ranking, title: str, score_label: str) -> bytes:
    """Bars of the score, best at the top, each labelled with its unit and value."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    font = FontProperties(fname=font_path())
    rows = ranking.rows
    height = max(2.5, 0.45 * len(rows) + 1.2)
    figure = Figure(figsize=(8, height), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    names = [row.unit.name for row in rows][::-1]
    scores = [row.score for row in rows][::-1]
    bars = axes.barh(range(len(rows)), scores, color="#2f6db3")
    axes.set_yticks(range(len(rows)), names, fontproperties=font)
    axes.set_xlabel(score_label, fontproperties=font)
    axes.set_title(title, fontproperties=font)
    for bar, score in zip(bars, scores, strict=True):
        axes.annotate(
            f"{score:.2f}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
