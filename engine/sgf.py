"""SGF game records: reading a main line into a ``GameState`` and writing a game back.

Reading happens in two steps so that dataset tools can look at a record before replaying it:

    rec = load_sgf_game("game.sgf")      # parse: metadata, setup stones, moves (no rules yet)
    state = rec.replay(move_number=50)   # rules: the position before move 50, superko checked

``load_sgf(path_or_text, move_number, ko_rule)`` does both, with GTP ``loadsgf`` semantics:
``move_number=k`` gives the position *before* move ``k`` (moves count from 1, passes
included), with the colour of move ``k`` to play; a ``move_number`` past the end loads the
whole game.

What is read: the main line only (first child at every node); SZ 2..19 (anything else is
refused), KM, HA, PL, setup stones AB/AW/AE in any node before the first move (AE clears
earlier setup), moves B/W with ``[]`` or ``[tt]`` as a pass (``tt`` only on boards up to
19x19, as FF[4] says). Game info (names, ranks, result, date, rules, event) is kept as text.

What is written (``game_to_sgf``): FF[4] GM[1] CA[UTF-8] SZ KM RU[Chinese] (area scoring, the
engine's rules) AP[alphago-py:version], HA and AB/AW for the stones on the board before the
first move, PL when that position has setup stones or white to play, PB/PW/RE when given,
then every move in order with ``[]`` for a pass. ``load_sgf(game_to_sgf(g))`` reproduces
board, history, komi, handicap and the colour to move.

Every problem with a record (unreadable file, broken syntax, an unsupported size, a bad
point, an illegal move) raises ``SgfError``, a ``ValueError`` whose message says where.
"""
import functools
import os
import re
from dataclasses import dataclass
from importlib import metadata

from sgfmill import sgf as sgfmill_sgf
from sgfmill.sgf_grammar import escape_text

from engine import atomic
from engine import board as fb
from engine.board import BLACK, WHITE, PASS, M_TOMOVE
from engine.coords import format_vertex, format_color
from engine.game import GameState, Move

APP_NAME = "alphago-py"
MIN_SIZE = 2
MAX_SIZE = fb.MAX_N

# Root properties game_to_sgf writes itself; ``extra`` may not replace them.
_STRUCTURAL = frozenset(("FF", "GM", "CA", "SZ", "KM", "HA", "AB", "AW", "AE", "PL", "B", "W"))
# An SGF game tree starts with '(' and ';', possibly with whitespace between.
_SGF_START = re.compile(r"\(\s*;")


class SgfError(ValueError):
    """An SGF record that cannot be read or replayed; the message says why and where."""


@dataclass(frozen=True)
class GameRecord:
    """The main line of an SGF record, parsed but not replayed."""
    size: int  # board size N
    komi: float  # KM, 0.0 when absent
    handicap: int  # HA, 0 when absent (HA[0] and HA[1] also mean no handicap)
    setup_black: tuple  # padded points of black setup stones (AB, after any AE) before move 1
    setup_white: tuple  # padded points of white setup stones (AW, after any AE) before move 1
    player_to_move: int | None  # PL colour before move 1, None when absent
    moves: tuple  # engine.game.Move per B/W node of the main line; point PASS for a pass
    black_name: str | None = None  # PB
    white_name: str | None = None  # PW
    black_rank: str | None = None  # BR
    white_rank: str | None = None  # WR
    result: str | None = None  # RE as written, e.g. "B+R", "W+3.5", "0"
    date: str | None = None  # DT as written
    rules: str | None = None  # RU as written
    event: str | None = None  # EV as written

    @property
    def winner(self):
        """BLACK or WHITE from RE, None for a draw, no result or an unknown one."""
        r = (self.result or "").strip().upper()
        if r.startswith("B+"):
            return BLACK
        if r.startswith("W+"):
            return WHITE
        return None

    def first_to_move(self):
        """Colour to play before move 1: PL, else the first move's colour, else white after
        handicap stones, else black."""
        if self.player_to_move is not None:
            return self.player_to_move
        if self.moves:
            return self.moves[0].color
        return WHITE if self.handicap >= 2 and self.setup_black else BLACK

    def replay(self, move_number=None, ko_rule="positional"):
        """GameState after the setup and the moves before ``move_number`` (all moves when
        None). Raises SgfError for setup stones without liberties or an illegal move."""
        if move_number is not None:
            if isinstance(move_number, bool) or not isinstance(move_number, int) or move_number < 1:
                raise SgfError(f"move number must be an integer >= 1, got {move_number!r}")
        g = GameState(self.size, komi=self.komi, ko_rule=ko_rule)
        try:
            g.place_stones(BLACK, self.setup_black)
            g.place_stones(WHITE, self.setup_white)
        except ValueError as e:
            raise SgfError(f"bad setup stones: {e}") from None
        g.handicap = self.handicap if self.handicap >= 2 else 0
        g.set_to_move(self.first_to_move())
        stop = len(self.moves) if move_number is None else min(move_number - 1, len(self.moves))
        for i, mv in enumerate(self.moves[:stop]):
            reason = g.check_move(mv.color, mv.point)
            if reason is not None:
                raise SgfError(f"illegal move {i + 1} in the record: "
                               f"{format_color(mv.color)} {format_vertex(mv.point, self.size)} ({reason})")
            g.play(mv.color, mv.point)
        if stop < len(self.moves):
            g.set_to_move(self.moves[stop].color)
        return g


# -- reading -------------------------------------------------------------------------------

def _parse(path_or_text):
    """sgfmill game from SGF text (str or bytes) or a file path; SgfError when unreadable."""
    where = "SGF text"
    try:
        if isinstance(path_or_text, (bytes, bytearray)):
            return sgfmill_sgf.Sgf_game.from_bytes(bytes(path_or_text))
        if isinstance(path_or_text, str) and (_SGF_START.search(path_or_text) or "\n" in path_or_text):
            return sgfmill_sgf.Sgf_game.from_string(path_or_text)
        if not isinstance(path_or_text, (str, os.PathLike)):
            raise SgfError(f"expected a path or SGF text, got {type(path_or_text).__name__}")
        where = f"SGF file '{os.fspath(path_or_text)}'"
        try:
            with open(path_or_text, "rb") as f:
                data = f.read()
        except OSError as e:
            raise SgfError(f"cannot read {where}: {e.strerror or e}") from None
        return sgfmill_sgf.Sgf_game.from_bytes(data)
    except SgfError:
        raise
    except (ValueError, LookupError, UnicodeError) as e:
        raise SgfError(f"cannot parse {where}: {e}") from None


def _text(node, ident):
    """A game-info property as text, None when absent; undecodable bytes are replaced."""
    if not node.has_property(ident):
        return None
    try:
        value = node.get(ident)
    except (ValueError, UnicodeError):
        value = node.get_raw(ident).decode("utf-8", "replace")
    if isinstance(value, tuple):  # composed values such as AP
        value = ":".join(value)
    return str(value)


def _point(n, rc):
    """sgfmill (row from the bottom, col) -> padded point."""
    row, col = rc
    return fb.point(n, n - 1 - row, col)


def load_sgf_game(path_or_text):
    """Parse an SGF record (file path, SGF text or bytes) into a GameRecord without
    checking the moves against the rules (``GameRecord.replay`` does that)."""
    game = _parse(path_or_text)
    root = game.get_root()
    gm = root.get_raw("GM") if root.has_property("GM") else b"1"
    if gm.strip() not in (b"1", b""):
        raise SgfError(f"not a Go record: GM[{gm.decode('ascii', 'replace')}]")
    n = game.get_size()
    if not MIN_SIZE <= n <= MAX_SIZE:
        raise SgfError(f"unsupported board size {n}: the engine plays {MIN_SIZE}x{MIN_SIZE} to {MAX_SIZE}x{MAX_SIZE}")
    try:
        komi = float(game.get_komi())
    except ValueError:
        raise SgfError(f"bad komi KM[{root.get_raw('KM').decode('ascii', 'replace')}]") from None
    try:
        handicap = root.get("HA") if root.has_property("HA") else 0
    except ValueError:
        raise SgfError(f"bad handicap HA[{root.get_raw('HA').decode('ascii', 'replace')}]") from None
    if handicap < 0:
        raise SgfError(f"bad handicap HA[{handicap}]")

    black, white = set(), set()  # setup points in sgfmill coordinates
    player = None
    moves = []
    try:
        nodes = game.get_main_sequence()
    except ValueError as e:
        raise SgfError(f"cannot parse SGF text: {e}") from None
    for k, node in enumerate(nodes):
        where = "the root node" if k == 0 else f"node {k}"
        if node.has_setup_stones():
            if moves:
                raise SgfError(f"setup stones (AB/AW/AE) in {where}, after move {len(moves)}, are not supported")
            try:
                ab, aw, ae = node.get_setup_stones()
            except ValueError as e:
                raise SgfError(f"bad setup point in {where}: {e}") from None
            black = (black - aw - ae) | ab
            white = (white - ab - ae) | aw
        if node.has_property("PL") and not moves:
            try:
                player = BLACK if node.get("PL") == "b" else WHITE
            except ValueError:
                raise SgfError(f"bad PL in {where}") from None
        if node.has_property("B") and node.has_property("W"):
            raise SgfError(f"{where} holds both a black and a white move")
        try:
            colour, rc = node.get_move()
        except ValueError:
            ident = "B" if node.has_property("B") else "W"
            raw = node.get_raw(ident).decode("ascii", "replace")
            raise SgfError(f"bad point in move {len(moves) + 1}: {ident}[{raw}] on a {n}x{n} board") from None
        if colour is None:
            continue
        moves.append(Move(BLACK if colour == "b" else WHITE, PASS if rc is None else _point(n, rc)))

    return GameRecord(
        size=n, komi=komi, handicap=int(handicap),
        setup_black=tuple(sorted(_point(n, rc) for rc in black)),
        setup_white=tuple(sorted(_point(n, rc) for rc in white)),
        player_to_move=player, moves=tuple(moves),
        black_name=_text(root, "PB"), white_name=_text(root, "PW"),
        black_rank=_text(root, "BR"), white_rank=_text(root, "WR"),
        result=_text(root, "RE"), date=_text(root, "DT"),
        rules=_text(root, "RU"), event=_text(root, "EV"),
    )


def load_sgf(path_or_text, move_number=None, ko_rule="positional"):
    """GameState of an SGF record's main line (file path, SGF text or bytes); with
    ``move_number`` the position before that move, as GTP ``loadsgf``."""
    return load_sgf_game(path_or_text).replay(move_number=move_number, ko_rule=ko_rule)


# -- writing -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _version():
    """The installed package's version (read once: the metadata lookup scans site-packages)."""
    try:
        return metadata.version(APP_NAME)
    except metadata.PackageNotFoundError:
        return "0"


def game_to_sgf(state, black_name=None, white_name=None, result=None, extra=None):
    """SGF text (FF[4]) of ``state``: setup, every move with passes, and the given game info.

    ``extra``: further root properties as {identifier: text}, e.g. {"DT": "2026-01-31",
    "PC": "local"}; they may not replace the structural ones (SZ, KM, HA, AB, ...)."""
    n = state.size
    game = sgfmill_sgf.Sgf_game(size=n)
    root = game.get_root()
    root.set("AP", (APP_NAME, _version()))
    root.set("KM", state.komi)
    root.set("RU", "Chinese")
    # the stones on the board before the first move: handicap and any other setup
    start = state.initial_board()
    colors = start[0]
    ab, aw = [], []
    for p in range(len(colors)):
        if colors[p] == BLACK or colors[p] == WHITE:
            r, c = fb.rowcol(n, p)
            (ab if colors[p] == BLACK else aw).append((n - 1 - r, c))
    if state.handicap:
        root.set("HA", state.handicap)
    if ab or aw:
        root.set_setup_stones(ab, aw)
    first = int(start[8][M_TOMOVE])
    if ab or aw or first != BLACK:
        root.set("PL", "b" if first == BLACK else "w")
    if black_name is not None:
        root.set("PB", str(black_name))
    if white_name is not None:
        root.set("PW", str(white_name))
    if result is not None:
        root.set("RE", str(result))
    for ident, value in (extra or {}).items():
        if not (isinstance(ident, str) and ident.isalpha() and ident.isupper()):
            raise ValueError(f"bad SGF property identifier {ident!r}")
        if ident in _STRUCTURAL:
            raise ValueError(f"SGF property {ident} is written from the game state and cannot be given in extra")
        root.set_raw(ident, escape_text(str(value).encode("utf-8")))
    node = root
    for mv in state.history:
        node = node.new_child()  # (extend_main_sequence walks the whole line each time)
        ident = "B" if mv.color == BLACK else "W"
        if mv.point == PASS:
            node.set_raw(ident, b"")  # FF[4] pass
        else:
            r, c = fb.rowcol(n, mv.point)
            node.set_move(ident.lower(), (n - 1 - r, c))
    return game.serialise().decode("utf-8")


def write_sgf_atomic(path, text):
    """Write ``text`` to ``path`` atomically (``engine.atomic``): a reader never sees half a
    file and a crash never leaves one."""
    atomic.write_text(path, text, newline="")


def save_sgf(path, state, **info):
    """``write_sgf_atomic(path, game_to_sgf(state, **info))``."""
    write_sgf_atomic(path, game_to_sgf(state, **info))
