"""Election pictures as SVG, drawn on the server from a tally or a result (PROTOCOL §3–4 shapes).

Ranked bars for every method; under them, for Condorcet methods (schulze, ranked_pairs) the
pairwise matrix as a heat map, and for IRV the rounds. Only presentation attributes are used (no
`style`), so the strict Content-Security-Policy holds inside the picture too.

Two layouts of the same picture: `WIDE` (960 wide: the projector, a laptop) and `NARROW` (480
wide, each bar under its label, long headings on two lines) for a phone, where the wide one,
scaled to ~370 pixels, would set its labels in 6-pixel type. Pages carry both and CSS shows the
one that fits the vote's column (static/kurultai.css, `.chart-narrow`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape

from kurultai.i18n import METHODS, OPTION_LABELS, Lang, N_

ROW = 40
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
BAR = "#0b5cad"
WIN = "#1b6e33"
INK = "#1a1a1a"
MUTED = "#4a4a4a"

_TEXTS = (
    N_("votes"),
    N_("pairwise wins"),
    N_("points"),
    N_("No ballots yet."),
    N_("Results are shown when the vote closes."),
    N_("Round"),
    N_("Pairwise preferences: how many voters rank the row above the column"),
    N_("Instant-runoff rounds"),
    N_("Ballots counted"),
    N_("Winner"),
)


def _e(text: Any) -> str:
    return escape(str(text), {'"': "&quot;"})


def _em(ch: str) -> float:
    """A character's width in em, estimated on the widest common fallback font (DejaVu Sans)."""
    if ch in " .,:;!|'’()[]-–іІ":
        return 0.34
    if ch in "жшщыюмфЖШЩЫЮМФmwMW":  # the widest letters, common in Kazakh and Russian
        return 0.86
    return 0.72 if ch.isupper() else 0.62


def _width(text: str, size: int) -> float:
    """`text`'s estimated width in pixels at font size `size` (see `_em`)."""
    return sum(map(_em, text)) * size


def _fits(text: str, px: float, size: int, bold: bool = False) -> bool:
    return _width(text, size) * (1.08 if bold else 1.0) <= px


def _fit(text: str, px: int, size: int, bold: bool = False) -> str:
    """`text` cut (with "…") to fit `px` pixels at font size `size`: labels in Kazakh and
    Russian are wider per character than the English a character count was tuned for."""
    if _fits(text, px, size, bold):
        return text
    limit = px / (size * (1.08 if bold else 1.0))
    room, cut = limit - _em("…"), 0
    for ch in text:
        room -= _em(ch)
        if room < 0:
            break
        cut += 1
    head = text[:cut]
    space = head.rfind(" ")
    if space > cut * 0.6:  # at a word's end when that keeps most of it
        head = head[:space]
    return head.rstrip(" ,.·/–-") + "…"


@dataclass(frozen=True)
class Layout:
    width: int
    label_w: int  # the column of the options' names beside the bars, the matrix and the rounds
    stacked: bool  # each bar under its label (and long lines wrapped) instead of beside it


WIDE = Layout(960, 400, False)
NARROW = Layout(480, 190, True)
#: A narrow picture that needs more than 480 units (a matrix of many options, many IRV rounds, in
#: type that stays readable) is drawn wider and shown at this many pixels a unit, what a 480-wide
#: one gets in a phone's 374-pixel column; its column scrolls sideways (static/kurultai.css).
NARROW_PX = 374 / 480


def _wrap_lines(text: str, px: int, size: int, bold: bool = False, lines: int = 2) -> list[str]:
    """`text` on at most `lines` lines of `px` pixels at font size `size`, broken between words;
    the last line cut with "…" if the text is longer still."""
    out: list[str] = []
    words = text.split(" ")
    while words and len(out) < lines - 1:
        line = words[0]
        rest = words[1:]
        while rest and _fits(f"{line} {rest[0]}", px, size, bold):
            line, rest = f"{line} {rest[0]}", rest[1:]
        if not _fits(line, px, size, bold):  # one word wider than the line: leave it to the last
            break
        out.append(line)
        words = rest
    if words:
        out.append(_fit(" ".join(words), px, size, bold))
    return out


def option_labels(view: dict[str, Any], lang: Lang) -> dict[str, str]:
    out = {}
    for o in view.get("options", []):
        oid = o["id"]
        out[oid] = lang.text(OPTION_LABELS[oid]) if oid in OPTION_LABELS else o.get("label", oid)
    return out


def _bars(tally: dict[str, Any], method: str) -> tuple[list[tuple[str, int]], str]:
    details = tally.get("details") or {}
    ranking = list(tally.get("ranking") or [])
    if method in ("borda", "plurality"):
        scores = details.get("scores", {})
        return [(o, int(scores.get(o, 0))) for o in ranking], "points" if method == "borda" else "votes"
    if method in ("schulze", "ranked_pairs"):
        d = details.get("pairwise", {})
        wins = {x: sum(1 for y in ranking if y != x and d.get(x, {}).get(y, 0) > d.get(y, {}).get(x, 0)) for x in ranking}
        return [(o, wins[o]) for o in ranking], "pairwise wins"
    if method == "irv":
        rounds = details.get("rounds", [])
        last: dict[str, int] = {}
        for r in rounds:
            for o, w in r.items():
                last[o] = int(w)
        return [(o, last.get(o, 0)) for o in ranking], "votes"
    if method == "yes_no":
        return [(o, int(details.get(o, 0))) for o in ("yes", "no", "abstain")], "votes"
    return [(o, 0) for o in ranking], "votes"


def election_svg(view: dict[str, Any], tally: dict[str, Any] | None, lang: Lang, layout: Layout = WIDE) -> str:
    labels = option_labels(view, lang)
    method = view["method"]
    # The picture's canvas: in the stacked layout as wide as the matrix or the rounds need (the
    # bars and the headings stay within the first 480 units, the phone's first screen).
    canvas = replace(layout, width=max(layout.width, _narrow_width(method, tally, lang, layout))) if layout.stacked and tally is not None else layout
    parts: list[str] = []
    y = 36
    title = f"{view['title']} · {lang.label(METHODS, method)}"
    y = _heading(parts, y - 10, title, 22, layout, lines=2) + 10
    if tally is None:
        why = lang.text("Results are shown when the vote closes.") if view.get("visibility") == "after_close" else lang.text("No ballots yet.")
        y = _heading(parts, y + 30, why, 20, layout, bold=False, colour=MUTED, lines=3)
        return _wrap(parts, y + 30, lang, title, layout)
    bars, unit = _bars(tally, method)
    top = max([v for _, v in bars] + [1])
    winner = tally.get("winner")
    y += 8
    for oid, value in bars:
        colour = WIN if oid == winner else BAR
        name = labels.get(oid, oid)
        if layout.stacked:  # the name on its own line, the bar under it across the picture
            w = int((layout.width - 24 - 70) * value / top)
            parts.append(f'<text x="12" y="{y + 20}" font-size="19" fill="{INK}">{_e(_fit(name, layout.width - 24, 19))}</text>')
            parts.append(f'<rect x="12" y="{y + 28}" width="{max(w, 2)}" height="20" rx="3" fill="{colour}"/>')
            parts.append(f'<text x="{12 + max(w, 2) + 8}" y="{y + 45}" font-size="19" fill="{INK}">{_e(lang.number(value))}</text>')
            y += 58
            continue
        w = int((layout.width - layout.label_w - 90) * value / top)
        parts.append(f'<text x="12" y="{y + 26}" font-size="20" fill="{INK}">{_e(_fit(name, layout.label_w - 26, 20))}</text>')
        parts.append(f'<rect x="{layout.label_w}" y="{y + 6}" width="{max(w, 2)}" height="{ROW - 12}" rx="3" fill="{colour}"/>')
        parts.append(f'<text x="{layout.label_w + max(w, 2) + 8}" y="{y + 26}" font-size="20" fill="{INK}">{_e(lang.number(value))}</text>')
        y += ROW
    counted = tally.get("counted", 0)
    summary = f"{lang.text(unit)} · {lang.text('Ballots counted')}: {lang.number(counted)}"
    won = f"{lang.text('Winner')}: {labels.get(winner, winner)}" if winner and counted else ""
    line = f"{summary} · {won}" if won else summary
    if _width(line, 16) <= layout.width - 24:
        parts.append(f'<text x="12" y="{y + 24}" font-size="16" fill="{MUTED}">{_e(line)}</text>')
        y += 44
    else:  # the winner on a line of its own
        y = _heading(parts, y + 24, summary, 16, layout, bold=False, colour=MUTED, lines=2)
        if won:
            y = _heading(parts, y + 22, won, 16, layout, bold=False, colour=MUTED, lines=2)
        y += 20
    details = tally.get("details") or {}
    if method in ("schulze", "ranked_pairs") and details.get("pairwise"):
        y = _heatmap(parts, y, list(tally.get("ranking") or []), details["pairwise"], labels, lang, layout, canvas)
    elif method == "irv" and details.get("rounds"):
        y = _rounds(parts, y, list(tally.get("ranking") or []), details["rounds"], labels, lang, layout, canvas)
    return _wrap(parts, y + 10, lang, title, canvas)


def _heading(parts: list[str], y: int, text: str, size: int, layout: Layout, *, bold: bool = True, colour: str = INK, lines: int = 1) -> int:
    """Text at baseline `y` across the picture, on up to `lines` lines (broken between words, the
    last one cut with "…"). Returns the last line's baseline."""
    weight = ' font-weight="700"' if bold else ""
    rows = _wrap_lines(text, layout.width - 24, size, bold, lines)
    for k, row in enumerate(rows):
        parts.append(f'<text x="12" y="{y + k * (size + 6)}" font-size="{size}"{weight} fill="{colour}">{_e(row)}</text>')
    return y + (len(rows) - 1) * (size + 6)


def _largest(texts: list[str], room: float, sizes: tuple[int, ...]) -> int:
    """The first of `sizes` (largest first) at which every one of `texts` fits in `room` pixels;
    the last otherwise."""
    for size in sizes:
        if all(_width(t, size) <= room for t in texts):
            return size
    return sizes[-1]


def _columns(layout: Layout, count: int, widest: int) -> tuple[int, int]:
    """The width of each of `count` columns (at most `widest`) right of the options' names, and
    where they start: the wide layout keeps its name column, the stacked one gives the names
    what the columns leave."""
    col = min(widest, (layout.width - layout.label_w - 20) // max(count, 1))
    return col, (layout.width - 12 - count * col if layout.stacked else layout.label_w)


def _narrow_width(method: str, tally: dict[str, Any], lang: Lang, layout: Layout) -> int:
    """How wide the stacked layout must be for the matrix's cells or the IRV rounds' columns to
    hold their numbers at 13 units (and a bar): 480 for a few options or rounds."""
    details = tally.get("details") or {}
    if method in ("schulze", "ranked_pairs") and details.get("pairwise"):
        d, order = details["pairwise"], list(tally.get("ranking") or [])
        widest = max([_width(lang.number(d.get(r, {}).get(c, 0)), 13) for r in order for c in order] + [0])
        return layout.label_w + 20 + len(order) * max(36, int(widest) + 10)
    if method == "irv" and details.get("rounds"):
        rounds = details["rounds"]
        widest = max([_width(lang.number(int(w)), 13) for r in rounds for w in r.values()] + [0])
        return layout.label_w + 20 + len(rounds) * max(48, int(widest) + 36)
    return layout.width


def _heat(share: float) -> str:
    """White (0.5) to green (1) or red (0): a diverging scale; text stays dark on every cell."""
    share = min(max(share, 0.0), 1.0)
    if share >= 0.5:
        t = (share - 0.5) * 2
        r, g, b = int(255 - t * (255 - 120)), int(255 - t * (255 - 200)), int(255 - t * (255 - 120))
    else:
        t = (0.5 - share) * 2
        r, g, b = int(255 - t * (255 - 240)), int(255 - t * (255 - 130)), int(255 - t * (255 - 130))
    return f"#{r:02x}{g:02x}{b:02x}"


def _heatmap(parts: list[str], y: int, order: list[str], d: dict[str, dict[str, int]], labels: dict[str, str], lang: Lang, layout: Layout, canvas: Layout) -> int:
    """The pairwise matrix; its heading within `layout`, its cells across `canvas`."""
    y = _heading(parts, y + 10, lang.text("Pairwise preferences: how many voters rank the row above the column"), 18, layout, lines=3) - 10
    y += 24
    n = len(order)
    cell, left = _columns(canvas, n, 80 if not layout.stacked else 56)
    digits = _largest([lang.number(d.get(r, {}).get(c, 0)) for r in order for c in order], cell - 8, (17, 15, 13))
    for j, _col in enumerate(order):
        x = left + j * cell + cell // 2
        parts.append(f'<text x="{x}" y="{y + 16}" font-size="15" text-anchor="middle" fill="{INK}">{j + 1}</text>')
    y += 24
    for i, row in enumerate(order):
        parts.append(f'<text x="12" y="{y + cell // 2 + 6}" font-size="16" fill="{INK}">{i + 1}. {_e(_fit(labels.get(row, row), left - 48, 16))}</text>')
        for j, col in enumerate(order):
            x = left + j * cell
            if row == col:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#e6e6e6"/>')
                continue
            a, b = d.get(row, {}).get(col, 0), d.get(col, {}).get(row, 0)
            share = a / (a + b) if a + b else 0.5
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{_heat(share)}" stroke="#999" stroke-width="0.5"/>')
            parts.append(f'<text x="{x + cell // 2}" y="{y + cell // 2 + 6}" font-size="{digits}" text-anchor="middle" fill="{INK}">{_e(lang.number(a))}</text>')
        y += cell
    return y + 8


def _rounds(parts: list[str], y: int, order: list[str], rounds: list[dict[str, int]], labels: dict[str, str], lang: Lang, layout: Layout, canvas: Layout) -> int:
    """The IRV rounds; the heading within `layout`, the rounds' columns across `canvas`."""
    y = _heading(parts, y + 10, lang.text("Instant-runoff rounds"), 18, layout, lines=2) - 10
    y += 24
    col, left = _columns(canvas, len(rounds), 110 if not layout.stacked else 84)
    heads = [f"{lang.text('Round')} {k + 1}" for k in range(len(rounds))]
    if not all(_width(h, 13) <= col - 6 for h in heads):  # too narrow for the word: the numbers alone, under the heading
        heads = [str(k + 1) for k in range(len(rounds))]
    head = _largest(heads, col - 6, (15, 13))
    for k, text in enumerate(heads):
        parts.append(f'<text x="{left + k * col + col // 2}" y="{y + 16}" font-size="{head}" text-anchor="middle" fill="{INK}">{_e(text)}</text>')
    y += 26
    top = max([int(w) for r in rounds for w in r.values()] + [1])
    counts = [lang.number(int(w)) for r in rounds for w in r.values()]
    size = _largest(counts, col * 0.5, (15, 13))
    room = max(col - 16 - max((_width(c, size) for c in counts), default=0), 2)  # the longest bar leaves room for its count
    for oid in order:
        parts.append(f'<text x="12" y="{y + 20}" font-size="16" fill="{INK}">{_e(_fit(labels.get(oid, oid), left - 30, 16))}</text>')
        for k, r in enumerate(rounds):
            x = left + k * col
            if oid not in r:
                parts.append(f'<text x="{x + col // 2}" y="{y + 20}" font-size="16" text-anchor="middle" fill="{MUTED}">—</text>')
                continue
            h = int(room * int(r[oid]) / top)
            parts.append(f'<rect x="{x + 4}" y="{y + 4}" width="{max(h, 2)}" height="22" fill="{BAR}"/>')
            parts.append(f'<text x="{x + 8 + max(h, 2)}" y="{y + 20}" font-size="{size}" fill="{INK}">{_e(lang.number(int(r[oid])))}</text>')
        y += 32
    return y + 8


def _wrap(parts: list[str], height: int, lang: Lang, title: str, layout: Layout) -> str:
    """The picture, named by its `<title>` (screen readers, and axe's svg-img-alt rule)."""
    width = layout.width
    shown = f'width="{width}" height="{height}"'
    if layout.stacked and width > NARROW.width:  # wider than a phone: shown at a fixed scale, scrolled sideways
        shown = f'width="{round(width * NARROW_PX)}" height="{round(height * NARROW_PX)}" class="scroll"'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xml:lang="{lang.code}" {shown} viewBox="0 0 {width} {height}" '
        f'font-family="{FONT}" role="img"><title>{_e(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(parts) + "</svg>"
    )
