"""Election pictures as SVG, drawn on the server from a tally or a result (PROTOCOL §3–4 shapes).

Ranked bars for every method; under them, for Condorcet methods (schulze, ranked_pairs) the
pairwise matrix as a heat map, and for IRV the rounds. Only presentation attributes are used (no
`style`), so the strict Content-Security-Policy holds inside the picture too.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from kurultai.i18n import METHODS, OPTION_LABELS, Lang, N_

WIDTH = 960
ROW = 40
LABEL_W = 400
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
    return 0.72 if ch.isupper() else 0.62


def _fit(text: str, px: int, size: int, bold: bool = False) -> str:
    """`text` cut (with "…") to fit `px` pixels at font size `size`: labels in Kazakh and
    Russian are wider per character than the English a character count was tuned for."""
    limit = px / (size * (1.08 if bold else 1.0))
    if sum(map(_em, text)) <= limit:
        return text
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


def election_svg(view: dict[str, Any], tally: dict[str, Any] | None, lang: Lang) -> str:
    labels = option_labels(view, lang)
    method = view["method"]
    parts: list[str] = []
    y = 36
    title = f"{view['title']} · {lang.label(METHODS, method)}"
    parts.append(f'<text x="12" y="{y - 10}" font-size="22" font-weight="700" fill="{INK}">{_e(_fit(title, WIDTH - 24, 22, bold=True))}</text>')
    if tally is None:
        why = lang.text("Results are shown when the vote closes.") if view.get("visibility") == "after_close" else lang.text("No ballots yet.")
        parts.append(f'<text x="12" y="{y + 30}" font-size="20" fill="{MUTED}">{_e(why)}</text>')
        return _wrap(parts, y + 60, lang, title)
    bars, unit = _bars(tally, method)
    top = max([v for _, v in bars] + [1])
    winner = tally.get("winner")
    y += 8
    for oid, value in bars:
        w = int((WIDTH - LABEL_W - 90) * value / top)
        colour = WIN if oid == winner else BAR
        parts.append(f'<text x="12" y="{y + 26}" font-size="20" fill="{INK}">{_e(_fit(labels.get(oid, oid), LABEL_W - 26, 20))}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y + 6}" width="{max(w, 2)}" height="{ROW - 12}" rx="3" fill="{colour}"/>')
        parts.append(f'<text x="{LABEL_W + max(w, 2) + 8}" y="{y + 26}" font-size="20" fill="{INK}">{_e(lang.number(value))}</text>')
        y += ROW
    counted = tally.get("counted", 0)
    parts.append(
        f'<text x="12" y="{y + 24}" font-size="16" fill="{MUTED}">{_e(lang.text(unit))} · {_e(lang.text("Ballots counted"))}: {_e(lang.number(counted))}'
        + (f" · {_e(lang.text('Winner'))}: {_e(_fit(labels.get(winner, winner), 400, 16))}" if winner and counted else "")
        + "</text>"
    )
    y += 44
    details = tally.get("details") or {}
    if method in ("schulze", "ranked_pairs") and details.get("pairwise"):
        y = _heatmap(parts, y, list(tally.get("ranking") or []), details["pairwise"], labels, lang)
    elif method == "irv" and details.get("rounds"):
        y = _rounds(parts, y, list(tally.get("ranking") or []), details["rounds"], labels, lang)
    return _wrap(parts, y + 10, lang, title)


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


def _heatmap(parts: list[str], y: int, order: list[str], d: dict[str, dict[str, int]], labels: dict[str, str], lang: Lang) -> int:
    parts.append(f'<text x="12" y="{y + 10}" font-size="18" font-weight="700" fill="{INK}">{_e(lang.text("Pairwise preferences: how many voters rank the row above the column"))}</text>')
    y += 24
    n = len(order)
    cell = min(80, (WIDTH - LABEL_W - 20) // max(n, 1))
    for j, _col in enumerate(order):
        x = LABEL_W + j * cell + cell // 2
        parts.append(f'<text x="{x}" y="{y + 16}" font-size="15" text-anchor="middle" fill="{INK}">{j + 1}</text>')
    y += 24
    for i, row in enumerate(order):
        parts.append(f'<text x="12" y="{y + cell // 2 + 6}" font-size="16" fill="{INK}">{i + 1}. {_e(_fit(labels.get(row, row), LABEL_W - 56, 16))}</text>')
        for j, col in enumerate(order):
            x = LABEL_W + j * cell
            if row == col:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#e6e6e6"/>')
                continue
            a, b = d.get(row, {}).get(col, 0), d.get(col, {}).get(row, 0)
            share = a / (a + b) if a + b else 0.5
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{_heat(share)}" stroke="#999" stroke-width="0.5"/>')
            parts.append(f'<text x="{x + cell // 2}" y="{y + cell // 2 + 6}" font-size="17" text-anchor="middle" fill="{INK}">{_e(lang.number(a))}</text>')
        y += cell
    return y + 8


def _rounds(parts: list[str], y: int, order: list[str], rounds: list[dict[str, int]], labels: dict[str, str], lang: Lang) -> int:
    parts.append(f'<text x="12" y="{y + 10}" font-size="18" font-weight="700" fill="{INK}">{_e(lang.text("Instant-runoff rounds"))}</text>')
    y += 24
    col = min(110, (WIDTH - LABEL_W - 20) // max(len(rounds), 1))
    for k in range(len(rounds)):
        parts.append(f'<text x="{LABEL_W + k * col + col // 2}" y="{y + 16}" font-size="15" text-anchor="middle" fill="{INK}">{_e(lang.text("Round"))} {k + 1}</text>')
    y += 26
    top = max([int(w) for r in rounds for w in r.values()] + [1])
    for oid in order:
        parts.append(f'<text x="12" y="{y + 20}" font-size="16" fill="{INK}">{_e(_fit(labels.get(oid, oid), LABEL_W - 30, 16))}</text>')
        for k, r in enumerate(rounds):
            x = LABEL_W + k * col
            if oid not in r:
                parts.append(f'<text x="{x + col // 2}" y="{y + 20}" font-size="16" text-anchor="middle" fill="{MUTED}">—</text>')
                continue
            h = int(col * 0.8 * int(r[oid]) / top)
            parts.append(f'<rect x="{x + 4}" y="{y + 4}" width="{max(h, 2)}" height="22" fill="{BAR}"/>')
            parts.append(f'<text x="{x + 8 + max(h, 2)}" y="{y + 20}" font-size="15" fill="{INK}">{_e(lang.number(int(r[oid])))}</text>')
        y += 32
    return y + 8


def _wrap(parts: list[str], height: int, lang: Lang, title: str) -> str:
    """The picture, named by its `<title>` (screen readers, and axe's svg-img-alt rule)."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xml:lang="{lang.code}" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'font-family="{FONT}" role="img"><title>{_e(title)}</title>'
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>' + "".join(parts) + "</svg>"
    )
