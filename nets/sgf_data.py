"""SGF game collections -> compressed training shards (the supervised data of the Lee pipeline).

    python -m nets.sgf_data COLLECTION [COLLECTION ...] --out DIR --size 19 \\
        [--max-handicap H] [--min-rank 1d] [--require-rank] [--min-moves 10] \\
        [--heldout 0.05] [--games-per-shard 5000]

Reading
-------
A collection is what game archives are distributed as: a directory (walked recursively, in
sorted order) or a single file. Files ending in ``.sgf`` are read; ``.zip``, ``.tar``,
``.tar.gz``/``.tgz``, ``.tar.bz2``/``.tbz2`` and ``.tar.xz`` archives are opened, also inside
one another (up to ``MAX_NESTING`` levels). Other files, hidden files and ``__MACOSX`` folders
are ignored. An SGF file may hold several game trees ``(;...)(;...)``: each is a game.

Every game gets a *source id*: the collection's name, the path inside it (``!`` steps into an
archive) and the game's index in its file, e.g. ``kgs/2004.tar.bz2!2004/01/a.sgf#0``. The
held-out split is a hash of that id, so a game stays on the same side whatever else the
collection holds and however often it is converted.

Text is decoded with the charset of ``CA[]`` when Python knows it, else UTF-8, else Latin-1
(which never fails), and parsed by ``engine.sgf.load_sgf_game``; the main line is replayed
with ``GameRecord.replay`` under positional superko.

Skip and count, never abort
---------------------------
Each game is kept or skipped for the first reason that applies, in this order:

    corrupt_file  an unreadable file or archive, or an .sgf file without a game tree (per file)
    unparsable    a game tree engine.sgf refuses (bad syntax, bad point, not Go, ...)
    size          a board size other than --size
    handicap      more handicap stones than --max-handicap (HA; AB stones when HA is absent)
    rank          BR or WR below --min-rank (an absent or unreadable rank passes...)
    rank_unknown  ...unless --require-rank: then it is skipped for this reason
    too_short     fewer than --min-moves moves (passes included)
    illegal       setup stones or a move the rules forbid

The counts, a few examples per reason and the shard totals are printed and written to
``DIR/report.json``.

Shard format
------------
``DIR/train/shard-00000.npz``, ... and ``DIR/heldout/shard-00000.npz``, ... are
``np.savez_compressed`` files (no pickled objects), each holding games of one board size:

    size           int64 scalar   board size N
    komi           float32[G]
    winner         int8[G]        1 black won, 2 white won, 0 draw or unknown (from RE)
    handicap       int8[G]
    offsets        int64[G+1]     moves of game g are rows offsets[g] : offsets[g+1]
    moves          int16[M]       padded points of engine.board for size N, PASS = -1
    colors         int8[M]        colour that played each move (1 black, 2 white)
    setup_offsets  int64[G+1]     setup stones (AB/AW, handicap) of game g
    setup_points   int16[S]
    setup_colors   int8[S]
    source         str[G]         source id (a unicode array)

A conversion writes into a fresh folder next to DIR and swaps it in at the end, so DIR holds
either the previous conversion or the new one, never a mix; a DIR that is not a conversion
output is never replaced.

Training side
-------------
``split_folder(DIR)`` lists the shards of ``DIR/train`` and ``DIR/heldout`` (the held-out list
may be empty: a small collection can get no held-out game) and ``load_shards(paths)`` gives
one ``GameSet``. A *position* is the board before a move that
is not a pass: the SL policy learns to predict moves, not passes, so passes are never targets
(they are still replayed). ``sample_positions(gs, count, rng)`` draws positions uniformly and
``replay_into(b, ...)`` rebuilds one on a fast board, with the colour of the target move to
play.
"""
import argparse
import codecs
import hashlib
import io
import lzma
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import asdict, dataclass

import numpy as np
from numba import njit
from sgfmill import sgf_grammar

from engine import atomic
from engine import board as fb
from engine.board import BLACK, WHITE, PASS, M_TOMOVE
from engine.progress import progress_bar
from engine.sgf import SgfError, load_sgf_game

MAX_NESTING = 8  # archives inside archives deeper than this are refused (zip bombs, loops)
SPLITS = ("train", "heldout")
REASONS = ("corrupt_file", "unparsable", "size", "handicap", "rank", "rank_unknown", "too_short",
           "illegal")
EXAMPLES_PER_REASON = 5  # skipped games listed by name in the report, per reason

# shard arrays and their dtypes (``size`` is an int64 scalar, ``source`` a unicode array)
SHARD_DTYPES = {
    "komi": np.float32, "winner": np.int8, "handicap": np.int8, "offsets": np.int64,
    "moves": np.int16, "colors": np.int8, "setup_offsets": np.int64, "setup_points": np.int16,
    "setup_colors": np.int8,
}
SHARD_FIELDS = ("size", *SHARD_DTYPES, "source")

_ARCHIVE_SUFFIXES = {
    ".zip": "zip", ".tar": "tar", ".tar.gz": "tar", ".tgz": "tar", ".tar.bz2": "tar",
    ".tbz2": "tar", ".tbz": "tar", ".tar.xz": "tar", ".txz": "tar",
}
# what a broken archive raises while being opened or read
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError,
                   zlib.error, lzma.LZMAError, ValueError, NotImplementedError, RuntimeError)
_GAME_START = re.compile(rb"\(\s*;")  # an SGF game tree opens with '(' and ';'
_CHARSET = re.compile(rb"CA\s*\[\s*([^\]]*?)\s*\]")
_RANK = re.compile(r"^\s*(\d{1,2})\s*(kyu|dan|pro|k|d|p)(?![a-z])", re.IGNORECASE)


class SgfDataError(ValueError):
    """Bad input to a conversion (missing collection, bad option, unsafe output folder)."""


class ShardError(ValueError):
    """A shard file that cannot be read or does not match the shard format."""


# -- games in memory -------------------------------------------------------------------------

class GameSet:
    """Games of one board size as flat arrays (the shard format, see the module docstring)."""

    def __init__(self, size, komi, winner, handicap, offsets, moves, colors, setup_offsets,
                 setup_points, setup_colors, source):
        self.size = int(size)  # board size N
        self.komi = np.asarray(komi, dtype=np.float32)  # [G]
        self.winner = np.asarray(winner, dtype=np.int8)  # [G] 1 black, 2 white, 0 unknown
        self.handicap = np.asarray(handicap, dtype=np.int8)  # [G]
        self.offsets = np.asarray(offsets, dtype=np.int64)  # [G+1] game g: moves[offsets[g]:offsets[g+1]]
        self.moves = np.asarray(moves, dtype=np.int16)  # [M] padded points, PASS = -1
        self.colors = np.asarray(colors, dtype=np.int8)  # [M] colour of each move
        self.setup_offsets = np.asarray(setup_offsets, dtype=np.int64)  # [G+1]
        self.setup_points = np.asarray(setup_points, dtype=np.int16)  # [S]
        self.setup_colors = np.asarray(setup_colors, dtype=np.int8)  # [S]
        self.source = np.asarray(source, dtype=str)  # [G] source ids
        self._position_rows = None  # int64[P] rows of ``moves`` that are positions (non-pass)
        self._validate()

    def _validate(self):
        n = self.size
        if not 2 <= n <= fb.MAX_N:
            raise ValueError(f"board size must be 2..{fb.MAX_N}, got {n}")
        g = len(self.komi)
        for name in ("winner", "handicap", "source"):
            if len(getattr(self, name)) != g:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {g} games")
        for offs, rows, what in ((self.offsets, self.moves, "moves"),
                                 (self.setup_offsets, self.setup_points, "setup_points")):
            if offs.ndim != 1 or len(offs) != g + 1 or offs[0] != 0 or offs[-1] != len(rows) \
                    or np.any(np.diff(offs) < 0):
                raise ValueError(f"offsets of {what} do not cover its {len(rows)} rows in {g} games")
        if len(self.colors) != len(self.moves) or len(self.setup_colors) != len(self.setup_points):
            raise ValueError("colors must have one entry per move / setup point")
        for c in (self.colors, self.setup_colors):
            if np.any((c != BLACK) & (c != WHITE)):
                raise ValueError("colours must be 1 (black) or 2 (white)")
        if np.any((self.winner < 0) | (self.winner > 2)):
            raise ValueError("winner must be 0, 1 or 2")
        on_board = fb.new_board(n)[0] == fb.EMPTY  # bool[(N+2)^2]
        for pts, what, may_pass in ((self.moves, "moves", True), (self.setup_points, "setup_points", False)):
            p = pts.astype(np.int64)
            inside = (p >= 0) & (p < len(on_board))
            ok = np.zeros(len(p), dtype=bool)
            ok[inside] = on_board[p[inside]]
            if may_pass:
                ok |= p == PASS
            if not ok.all():
                raise ValueError(f"{what} holds point {int(p[~ok][0])}, not on a {n}x{n} board")

    def __len__(self):
        return len(self.komi)

    @property
    def position_rows(self):
        """int64[P]: the rows of ``moves`` that are training positions (moves that are not passes)."""
        if self._position_rows is None:
            self._position_rows = np.flatnonzero(self.moves != PASS).astype(np.int64)
        return self._position_rows

    @property
    def num_positions(self):
        """Training positions: the boards before each move that is not a pass."""
        return len(self.position_rows)

    def game(self, g):
        """(setup points, setup colours, moves, colours, winner, komi) of game ``g``; the arrays
        are views into the set, ready for ``replay_into``."""
        if not 0 <= g < len(self):
            raise IndexError(f"game {g} out of range: the set holds {len(self)} games")
        s0, s1 = self.setup_offsets[g], self.setup_offsets[g + 1]
        m0, m1 = self.offsets[g], self.offsets[g + 1]
        return (self.setup_points[s0:s1], self.setup_colors[s0:s1], self.moves[m0:m1],
                self.colors[m0:m1], int(self.winner[g]), float(self.komi[g]))

    def arrays(self):
        """The shard arrays by name (``SHARD_FIELDS``)."""
        out = {"size": np.int64(self.size)}
        for name in SHARD_DTYPES:
            out[name] = getattr(self, name)
        out["source"] = self.source
        return out

    @classmethod
    def from_records(cls, records, sources):
        """GameSet from ``engine.sgf.GameRecord``s of one board size (legality is not checked
        here: ``convert`` replays every game first). ``sources``: one id per record."""
        records, sources = list(records), [str(s) for s in sources]
        if len(records) != len(sources):
            raise ValueError(f"{len(records)} records but {len(sources)} sources")
        if not records:
            raise ValueError("no games: a GameSet needs at least one record to know its size")
        n = records[0].size
        moves, colors, offsets, spts, scols, soffs = [], [], [0], [], [], [0]
        for rec, src in zip(records, sources):
            if rec.size != n:
                raise ValueError(f"{src}: board size {rec.size}, the other games are {n}x{n}")
            moves += [m.point for m in rec.moves]
            colors += [m.color for m in rec.moves]
            offsets.append(len(moves))
            spts += list(rec.setup_black) + list(rec.setup_white)
            scols += [BLACK] * len(rec.setup_black) + [WHITE] * len(rec.setup_white)
            soffs.append(len(spts))
        return cls(size=n, komi=[r.komi for r in records],
                   winner=[r.winner or 0 for r in records],
                   handicap=[game_handicap(r) for r in records],
                   offsets=offsets, moves=moves, colors=colors, setup_offsets=soffs,
                   setup_points=spts, setup_colors=scols, source=sources)

    def subset(self, games):
        """A GameSet of the games ``games`` (indices, in that order)."""
        games = np.asarray(games, dtype=np.int64)
        if len(games) == 0:
            raise ValueError("an empty subset has no games")

        def rows(offs):
            idx = [np.arange(offs[g], offs[g + 1]) for g in games]
            new = np.zeros(len(games) + 1, dtype=np.int64)
            new[1:] = np.cumsum([len(i) for i in idx])
            return np.concatenate(idx).astype(np.int64), new

        mrows, offsets = rows(self.offsets)
        srows, soffsets = rows(self.setup_offsets)
        return GameSet(size=self.size, komi=self.komi[games], winner=self.winner[games],
                       handicap=self.handicap[games], offsets=offsets, moves=self.moves[mrows],
                       colors=self.colors[mrows], setup_offsets=soffsets,
                       setup_points=self.setup_points[srows],
                       setup_colors=self.setup_colors[srows], source=self.source[games])

    @classmethod
    def concat(cls, sets):
        """One GameSet holding the games of ``sets`` in order (all of one board size)."""
        sets = list(sets)
        if not sets:
            raise ValueError("nothing to concatenate")
        n = sets[0].size
        for s in sets[1:]:
            if s.size != n:
                raise ValueError(f"cannot join {n}x{n} games with {s.size}x{s.size} games")

        def joined_offsets(name, rows):
            parts, base = [np.zeros(1, np.int64)], 0
            for s in sets:
                parts.append(getattr(s, name)[1:] + base)
                base += len(getattr(s, rows))
            return np.concatenate(parts)

        def cat(name):
            return np.concatenate([getattr(s, name) for s in sets])

        return cls(size=n, komi=cat("komi"), winner=cat("winner"), handicap=cat("handicap"),
                   offsets=joined_offsets("offsets", "moves"), moves=cat("moves"),
                   colors=cat("colors"), setup_offsets=joined_offsets("setup_offsets", "setup_points"),
                   setup_points=cat("setup_points"), setup_colors=cat("setup_colors"),
                   source=np.concatenate([s.source for s in sets]))


def game_handicap(rec):
    """Handicap stones of a record: HA when it is 2 or more; without HA, the AB stones of a
    record that has only black setup stones and white moving first; else 0."""
    if rec.handicap >= 2:
        return rec.handicap
    if rec.handicap == 0 and rec.setup_black and not rec.setup_white and rec.first_to_move() == WHITE:
        return len(rec.setup_black)
    return 0


# -- shard files -----------------------------------------------------------------------------

def save_shard(path, gs):
    """Write ``gs`` to ``path`` with ``np.savez_compressed``, atomically (``engine.atomic``): a
    reader never sees half a shard."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic.atomic_file(path, "wb") as f:  # a file object: savez adds no ".npz" to the name
        np.savez_compressed(f, **gs.arrays())


def load_shard(path):
    """GameSet from one shard file; ``ShardError`` naming the file when it is unreadable or
    not in the shard format."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:  # np.load would take other files for .npy or a pickle
            if not zipfile.is_zipfile(f):
                raise ValueError("not an .npz file (no zip archive: cut short, or another "
                                 "kind of file)")
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in SHARD_FIELDS if k not in z.files]
            if missing:
                raise ValueError(f"missing arrays {', '.join(missing)}")
            data = {k: z[k] for k in SHARD_FIELDS}
        if data["size"].shape != ():
            raise ValueError("size must be a scalar")
        if data["source"].dtype.kind != "U":
            raise ValueError(f"source must be a unicode array, got dtype {data['source'].dtype}")
        return GameSet(**data)
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise ShardError(f"corrupt shard {path}: {e}") from None


def shard_paths(paths_or_dir):
    """The shard files named by a folder (its ``*.npz``, sorted), a file, or a list of both;
    ``ShardError`` when a path is missing or nothing names a shard."""
    items = [paths_or_dir] if isinstance(paths_or_dir, (str, os.PathLike)) else list(paths_or_dir)
    out = []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            out += _shards_in(item)
        elif os.path.isfile(item):
            out.append(item)
        else:
            raise ShardError(f"shard path not found: {item}")
    if not out:
        where = ", ".join(os.fspath(i) for i in items) or "an empty list"
        hint = (" (a conversion folder holds train/ and heldout/: name one of them)"
                if any(os.path.isdir(os.path.join(os.fspath(i), s)) for i in items for s in SPLITS) else "")
        raise ShardError(f"no shards (*.npz) in {where}{hint}")
    return out


def _shards_in(folder):
    """The shard files of a folder: its ``*.npz``, sorted, hidden files (a save's temporary
    files) left out."""
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.endswith(".npz") and not f.startswith("."))


def split_folder(data_dir):
    """(train shard paths, held-out shard paths) of a conversion folder: the shards of
    ``data_dir/train`` and ``data_dir/heldout``. The held-out list is empty when heldout/ is
    missing or holds no shard, as after converting a small collection (the hash split held out
    none of its games); ``ShardError`` naming the folder when train/ is missing or empty."""
    data_dir = os.fspath(data_dir)
    paths = {}
    for split in SPLITS:
        folder = os.path.join(data_dir, split)
        paths[split] = _shards_in(folder) if os.path.isdir(folder) else []
    if not os.path.isdir(os.path.join(data_dir, "train")):
        raise ShardError(f"{data_dir}: no train/ directory of shards (the output of "
                         f"python -m nets.sgf_data holds train/ and heldout/)")
    if not paths["train"]:
        raise ShardError(f"{os.path.join(data_dir, 'train')}: no shards (*.npz) to train on")
    return paths["train"], paths["heldout"]


def load_shards(paths_or_dir):
    """One GameSet from shard files or folders of shards (see ``shard_paths``); all shards must
    be of one board size."""
    sets, first = [], None
    for path in shard_paths(paths_or_dir):
        gs = load_shard(path)
        if first is None:
            first = (path, gs.size)
        elif gs.size != first[1]:
            raise ShardError(f"mixed board sizes: {path} holds {gs.size}x{gs.size} games, "
                             f"{first[0]} holds {first[1]}x{first[1]}")
        sets.append(gs)
    return GameSet.concat(sets)


# -- replaying -------------------------------------------------------------------------------

@njit(cache=True)
def replay_into(b, setup_points, setup_colors, moves, colors, stop):
    """Reset fast board ``b`` (its own size) to empty, put the setup stones on it and play
    ``moves[:stop]``; the side to move is then the colour of ``moves[stop]`` (the move a
    policy learns), or the other colour after the last move. The slices are one game's;
    legality was checked when the games were converted."""
    fb.copy_into(b, fb.new_board(b[8][fb.M_N]))
    for i in range(len(setup_points)):
        fb.play(b, np.int64(setup_points[i]), np.int64(setup_colors[i]))
    meta = b[8]
    fb.clear_history(meta)  # setup stones are not moves
    meta[M_TOMOVE] = colors[0] if len(colors) > 0 else BLACK
    for i in range(stop):
        fb.play(b, np.int64(moves[i]), np.int64(colors[i]))
    if stop < len(moves):
        meta[M_TOMOVE] = colors[stop]


def sample_positions(gs, count, rng):
    """``count`` positions drawn uniformly (with replacement) over all positions of ``gs``:
    (game index int64[count], move index within the game int64[count]). Move index k is the
    board before move k (``replay_into(..., stop=k)``) and move k, never a pass, is the
    target."""
    rows = gs.position_rows
    if len(rows) == 0:
        raise ValueError("the game set holds no positions (no moves other than passes)")
    r = rows[rng.integers(len(rows), size=count)]
    games = np.searchsorted(gs.offsets, r, side="right") - 1
    return games.astype(np.int64), (r - gs.offsets[games]).astype(np.int64)


# -- reading collections ---------------------------------------------------------------------

class Tally:
    """Counts of a conversion: files read, games seen, kept, skipped by reason, with examples."""

    def __init__(self):
        self.files = 0  # SGF files read (inside archives too)
        self.archives = 0  # archives opened
        self.ignored_files = 0  # files that are neither SGF nor an archive
        self.games = 0  # game trees seen
        self.kept = {s: 0 for s in SPLITS}  # games kept, per split
        self.positions = {s: 0 for s in SPLITS}  # positions kept, per split
        self.shards = {s: 0 for s in SPLITS}  # shard files written, per split
        self.skipped = {r: 0 for r in REASONS}  # games (files for corrupt_file) skipped, per reason
        self.examples = {r: [] for r in REASONS}  # first few "source: why" per reason

    def skip(self, reason, source, why):
        self.skipped[reason] += 1
        if len(self.examples[reason]) < EXAMPLES_PER_REASON:
            self.examples[reason].append(f"{source}: {why}")


def _kind(name):
    """'sgf', 'zip', 'tar' or None from a file name."""
    low = name.lower()
    if low.endswith(".sgf"):
        return "sgf"
    for suffix, kind in _ARCHIVE_SUFFIXES.items():
        if low.endswith(suffix):
            return kind
    return None


def _hidden(name):
    parts = name.replace("\\", "/").split("/")
    return any(p.startswith(".") and p not in (".", "..") or p == "__MACOSX" for p in parts)


def iter_sgf_files(collection, tally=None):
    """Yield (file id, bytes) for every SGF file of a collection (a folder or a file, archives
    opened); broken files and archives are counted in ``tally`` as corrupt_file and skipped."""
    tally = Tally() if tally is None else tally
    root = os.path.abspath(os.fspath(collection))
    label = os.path.basename(os.path.normpath(root))
    if os.path.isdir(root):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
            for fn in sorted(filenames):
                if _hidden(fn):
                    continue
                path = os.path.join(dirpath, fn)
                ident = label + "/" + os.path.relpath(path, root).replace(os.sep, "/")
                kind = _kind(fn)
                if kind is None:
                    tally.ignored_files += 1
                    continue
                yield from _from_path(path, ident, kind, tally)
    elif os.path.isfile(root):
        kind = _kind(root)
        if kind is None:
            raise SgfDataError(f"collection {collection}: not a folder, an .sgf file or an archive "
                               f"({', '.join(_ARCHIVE_SUFFIXES)})")
        yield from _from_path(root, label, kind, tally)
    else:
        raise SgfDataError(f"collection not found: {collection}")


def _from_path(path, ident, kind, tally):
    if kind == "sgf":
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            tally.skip("corrupt_file", ident, f"cannot read: {e.strerror or e}")
            return
        tally.files += 1
        yield ident, data
    else:
        yield from _from_archive(path, ident, kind, 0, tally)


def _from_archive(src, ident, kind, depth, tally):
    """SGF files of an archive given as a path or as bytes; nested archives are opened."""
    if depth > MAX_NESTING:
        tally.skip("corrupt_file", ident, f"archives nested more than {MAX_NESTING} deep")
        return
    fileobj = io.BytesIO(src) if isinstance(src, bytes) else None
    try:
        if kind == "zip":
            arc = zipfile.ZipFile(fileobj or src)
        else:  # stream mode: members are read in order, never seeking back in the compressed data
            arc = tarfile.open(fileobj=fileobj, mode="r|*") if fileobj else tarfile.open(src, mode="r|*")
    except _ARCHIVE_ERRORS as e:
        tally.skip("corrupt_file", ident, f"cannot open archive: {e}")
        return
    tally.archives += 1
    with arc:
        members = iter(arc.infolist()) if kind == "zip" else iter(arc)
        while True:
            try:
                m = next(members)
            except StopIteration:
                break
            except _ARCHIVE_ERRORS as e:
                tally.skip("corrupt_file", ident, f"broken archive: {e}")
                return
            name = m.filename if kind == "zip" else m.name
            if (m.is_dir() if kind == "zip" else not m.isfile()) or _hidden(name):
                continue
            inner = _kind(name)
            if inner is None:
                tally.ignored_files += 1
                continue
            member_id = f"{ident}!{name}"
            try:
                data = arc.read(m) if kind == "zip" else arc.extractfile(m).read()
            except _ARCHIVE_ERRORS as e:
                tally.skip("corrupt_file", member_id, f"cannot read: {e}")
                if kind == "zip":
                    continue  # zip members are independent
                return  # a tar stream cannot go on past broken data
            if inner == "sgf":
                tally.files += 1
                yield member_id, data
            else:
                yield from _from_archive(data, member_id, inner, depth + 1, tally)


def split_games(data):
    """The game trees ``(;...)`` of SGF bytes, each as its own bytes; junk around and between
    them is dropped (as SGF readers do)."""
    out = []
    pos = 0
    while True:
        m = _GAME_START.search(data, pos)
        if m is None:
            return out
        _, end = sgf_grammar.tokenise(data, m.start())
        end = max(end, m.end())  # always move on, even past a tree the tokeniser gave up on
        out.append(data[m.start():end])
        pos = end


def decode_sgf(data):
    """SGF bytes -> text: the CA[] charset when Python knows it, else UTF-8, else Latin-1."""
    m = _CHARSET.search(data)
    if m:
        try:
            return data.decode(codecs.lookup(m.group(1).decode("ascii")).name)
        except (LookupError, UnicodeError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_rank(text):
    """Rank text -> a number that orders ranks: 30k = -29 ... 1k = 0, 1d = 1 ... 9d = 9, and
    professionals above amateurs (1p = 10). Accepts KGS style "3d", "15k", "5p", "3d?", "2d*"
    and "3 dan", "1 kyu"; None when unreadable or empty."""
    m = _RANK.match(text or "")
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2).lower()[0]
    if n < 1:
        return None
    return {"k": 1 - n, "d": n, "p": 9 + n}[unit]


def is_heldout(source, fraction):
    """Deterministic split: a 64-bit hash of the source id against the held-out fraction."""
    h = int.from_bytes(hashlib.blake2b(source.encode("utf-8"), digest_size=8).digest(), "little")
    return h < fraction * 2.0 ** 64


# -- conversion ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvertConfig:
    """What a conversion keeps and how it writes shards."""
    size: int  # keep games of this board size only
    max_handicap: int | None = None  # skip games with more handicap stones; None keeps any
    min_rank: str | None = None  # both players at least this rank ("1d") where BR/WR are readable
    require_rank: bool = False  # with min_rank: skip games whose BR or WR is absent or unreadable
    min_moves: int = 0  # skip games with fewer moves, passes included
    heldout: float = 0.05  # fraction of games held out, chosen by a hash of the source id
    games_per_shard: int = 5000  # games per shard file

    def __post_init__(self):
        if not 2 <= self.size <= fb.MAX_N:
            raise SgfDataError(f"board size must be 2..{fb.MAX_N}, got {self.size}")
        if self.max_handicap is not None and self.max_handicap < 0:
            raise SgfDataError("max handicap must be >= 0")
        if self.min_rank is not None and parse_rank(self.min_rank) is None:
            raise SgfDataError(f"cannot read rank {self.min_rank!r}: use e.g. 15k, 1d, 3p")
        if self.require_rank and self.min_rank is None:
            raise SgfDataError("require_rank needs min_rank")
        if self.min_moves < 0:
            raise SgfDataError("min moves must be >= 0")
        if not 0.0 <= self.heldout <= 1.0:
            raise SgfDataError(f"held-out fraction must be in [0, 1], got {self.heldout}")
        if self.games_per_shard < 1:
            raise SgfDataError("games per shard must be at least 1")


def check_game(rec, cfg):
    """The filter a parsed record fails, as a skip reason (see the module docstring), or None.
    Rules are not checked here (``illegal`` needs a replay)."""
    if rec.size != cfg.size:
        return "size"
    if cfg.max_handicap is not None and game_handicap(rec) > cfg.max_handicap:
        return "handicap"
    if cfg.min_rank is not None:
        floor = parse_rank(cfg.min_rank)
        ranks = [parse_rank(r) for r in (rec.black_rank, rec.white_rank)]
        if any(r is not None and r < floor for r in ranks):
            return "rank"
        if cfg.require_rank and any(r is None for r in ranks):
            return "rank_unknown"
    if len(rec.moves) < cfg.min_moves:
        return "too_short"
    return None


def read_game(chunk, cfg):
    """(record, None, None) for a game that passes ``cfg``, else (None, reason, why)."""
    try:
        rec = load_sgf_game(decode_sgf(chunk))
    except SgfError as e:
        why = str(e)
        return None, ("size" if why.startswith("unsupported board size") else "unparsable"), why
    reason = check_game(rec, cfg)
    if reason is not None:
        return None, reason, _filter_why(rec, reason)
    try:
        rec.replay(ko_rule="positional")
    except SgfError as e:
        return None, "illegal", str(e)
    return rec, None, None


def _filter_why(rec, reason):
    return {"size": f"{rec.size}x{rec.size}",
            "handicap": f"handicap {game_handicap(rec)}",
            "rank": f"ranks {rec.black_rank} / {rec.white_rank}",
            "rank_unknown": f"ranks {rec.black_rank} / {rec.white_rank}",
            "too_short": f"{len(rec.moves)} moves"}[reason]


class _ShardWriter:
    """Collects kept games of one split and writes a shard every ``games_per_shard`` games."""

    def __init__(self, folder, split, cfg, tally):
        self.folder = os.path.join(folder, split)
        self.split, self.cfg, self.tally = split, cfg, tally
        self.records, self.sources = [], []  # games waiting for the next shard
        os.makedirs(self.folder, exist_ok=True)

    def add(self, rec, source):
        self.records.append(rec)
        self.sources.append(source)
        self.tally.kept[self.split] += 1
        self.tally.positions[self.split] += sum(m.point != PASS for m in rec.moves)
        if len(self.records) >= self.cfg.games_per_shard:
            self.flush()

    def flush(self):
        if not self.records:
            return
        k = self.tally.shards[self.split]
        save_shard(os.path.join(self.folder, f"shard-{k:05d}.npz"),
                   GameSet.from_records(self.records, self.sources))
        self.tally.shards[self.split] = k + 1
        self.records, self.sources = [], []


def _is_conversion_dir(path):
    """True for a folder a conversion wrote (or an empty one): safe to replace."""
    return all(e in (*SPLITS, "report.json") for e in os.listdir(path))


def convert(collections, out, cfg, progress=False):
    """Convert SGF collections into shards under ``out`` (replacing an earlier conversion
    there) and return the report (also written to ``out/report.json``)."""
    if isinstance(collections, (str, os.PathLike)):
        collections = [collections]
    collections = [os.fspath(c) for c in collections]
    if not collections:
        raise SgfDataError("no collection given")
    for c in collections:
        if not os.path.exists(c):
            raise SgfDataError(f"collection not found: {c}")
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not (os.path.isdir(out) and _is_conversion_dir(out)):
        raise SgfDataError(f"{out} exists and is not a shard folder written by this tool; "
                           "refusing to replace it")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    for stale in os.listdir(parent):  # left by a conversion that was killed
        if stale.startswith((f".{os.path.basename(out)}.partial-", f".{os.path.basename(out)}.old-")):
            shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)
    work = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out)}.partial-")
    try:
        report = _convert_into(collections, work, cfg, progress)
        report["out"] = out
        atomic.write_json(os.path.join(work, "report.json"), report, indent=2)
        if os.path.exists(out):
            old = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out)}.old-")
            os.rename(out, os.path.join(old, "out"))
            os.rename(work, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return report


def _convert_into(collections, folder, cfg, progress):
    tally = Tally()
    writers = {s: _ShardWriter(folder, s, cfg, tally) for s in SPLITS}
    bar = progress_bar(enabled=progress)
    try:
        for collection in collections:
            for file_id, data in iter_sgf_files(collection, tally):
                chunks = split_games(data)
                if not chunks:
                    tally.skip("corrupt_file", file_id, "no SGF game tree in the file")
                for k, chunk in enumerate(chunks):
                    source = f"{file_id}#{k}"
                    tally.games += 1
                    rec, reason, why = read_game(chunk, cfg)
                    if rec is None:
                        tally.skip(reason, source, why)
                    else:
                        writers["heldout" if is_heldout(source, cfg.heldout) else "train"].add(rec, source)
                    if bar is not None:
                        bar.update(1)
                        if tally.games % 200 == 0:
                            bar.set_postfix_str(f"kept {sum(tally.kept.values())}", refresh=False)
        for w in writers.values():
            w.flush()
    finally:
        if bar is not None:
            bar.close()
    return {
        "collections": collections,
        "settings": asdict(cfg),
        "files": tally.files, "archives": tally.archives, "ignored_files": tally.ignored_files,
        "games": tally.games,
        "kept": sum(tally.kept.values()),
        "splits": {s: {"games": tally.kept[s], "positions": tally.positions[s], "shards": tally.shards[s]}
                   for s in SPLITS},
        "skipped": dict(tally.skipped),
        "examples": {r: e for r, e in tally.examples.items() if e},
    }


def format_report(r):
    """The report as a few lines of text."""
    lines = [f"{r['games']} games in {r['files']} SGF files ({r['archives']} archives, "
             f"{r['ignored_files']} other files ignored): kept {r['kept']}"]
    for s in SPLITS:
        x = r["splits"][s]
        lines.append(f"  {s:<8} {x['games']} games, {x['positions']} positions, {x['shards']} shards")
    skipped = [f"{k} {v}" for k, v in r["skipped"].items() if v]
    lines.append("  skipped  " + (", ".join(skipped) if skipped else "none"))
    for reason, ex in r["examples"].items():
        lines.append(f"    e.g. {reason}: {ex[0]}")
    if r.get("out"):
        lines.append(f"report: {os.path.join(r['out'], 'report.json')}")
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m nets.sgf_data",
        description="Convert SGF game collections (folders, .sgf, .zip, .tar.gz, .tar.bz2, nested) "
                    "into compressed training shards with a held-out split.")
    p.add_argument("collections", nargs="+", metavar="COLLECTION", help="folder or archive of SGF games")
    p.add_argument("--out", required=True, help="output folder (replaced when it holds an earlier conversion)")
    p.add_argument("--size", type=int, required=True, help="board size to keep")
    p.add_argument("--max-handicap", type=int, default=None, help="skip games with more handicap stones")
    p.add_argument("--min-rank", default=None,
                   help="skip games where BR or WR is below this rank (e.g. 1d, 5k, 1p); "
                        "absent ranks pass unless --require-rank")
    p.add_argument("--require-rank", action="store_true",
                   help="with --min-rank: also skip games without readable BR and WR")
    p.add_argument("--min-moves", type=int, default=0, help="skip games with fewer moves (default 0)")
    p.add_argument("--heldout", type=float, default=0.05, help="held-out fraction (default 0.05)")
    p.add_argument("--games-per-shard", type=int, default=5000, help="games per shard file (default 5000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = ConvertConfig(size=args.size, max_handicap=args.max_handicap, min_rank=args.min_rank,
                            require_rank=args.require_rank, min_moves=args.min_moves,
                            heldout=args.heldout, games_per_shard=args.games_per_shard)
        report = convert(args.collections, args.out, cfg, progress=not args.no_progress)
    except SgfDataError as e:
        parser.error(str(e))
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
