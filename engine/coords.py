"""GTP vertices (``D4``, ``pass``) and SGF points (``dd``) to and from padded board points.

GTP columns run A..T without I; row 1 is the bottom row. The fast board counts rows
from the top, so GTP row ``k`` is board row ``N - k``.
"""
from engine.board import PASS, RESIGN, point, rowcol

GTP_COLUMNS = "ABCDEFGHJKLMNOPQRST"


class BadVertex(ValueError):
    """A vertex that does not name a point of this board."""


def parse_vertex(text, n):
    """``'D4'`` / ``'pass'`` / ``'resign'`` (any case) -> padded point, PASS or RESIGN."""
    t = text.strip().upper()
    if t == "PASS":
        return PASS
    if t == "RESIGN":
        return RESIGN
    if len(t) < 2 or t[0] not in GTP_COLUMNS or not (t[1:].isascii() and t[1:].isdigit()):
        raise BadVertex(f"invalid vertex '{text}'")
    col = GTP_COLUMNS.index(t[0])
    num = int(t[1:])
    if col >= n or not 1 <= num <= n:
        raise BadVertex(f"vertex '{text}' is off a {n}x{n} board")
    return point(n, n - num, col)


def format_vertex(p, n):
    if p == PASS:
        return "pass"
    if p == RESIGN:
        return "resign"
    r, c = rowcol(n, p)
    return f"{GTP_COLUMNS[c]}{n - r}"


def parse_color(text):
    """``b`` / ``black`` / ``w`` / ``white`` (any case) -> 1 / 2."""
    t = text.strip().lower()
    if t in ("b", "black"):
        return 1
    if t in ("w", "white"):
        return 2
    raise ValueError(f"invalid color '{text}'")


def format_color(c):
    return "B" if c == 1 else "W"
