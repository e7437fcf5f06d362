"""SGF collections -> training shards: reading nested archives, skipping and counting bad or
filtered games, the shard round trip, the held-out split, and replaying positions."""
import io
import json
import os
import re
import shutil
import tarfile
import zipfile

import numpy as np
import pytest

from engine import board as fb
from engine.board import BLACK, WHITE, PASS, M_KO, M_TOMOVE
from engine.coords import parse_vertex
from engine.diagram import parse_diagram
from engine.game import GameState, handicap_points
from engine.reference import check_consistency
from engine.sgf import game_to_sgf, load_sgf_game
from nets.sgf_data import (ConvertConfig, GameSet, SgfDataError, ShardError, convert, decode_sgf,
                           is_heldout, load_shard, load_shards, main, parse_rank, replay_into,
                           sample_positions, save_shard, split_folder, split_games)


# -- building games and collections ------------------------------------------------------------

def game(size, moves, komi=7.0, handicap=0, result=None, **info):
    """GameState after 'B C3', 'W pass', ... (legal moves only), and its SGF text."""
    g = GameState(size, komi=komi)
    if handicap:
        g.set_handicap(handicap_points(size, handicap))
    for m in moves.split(",") if moves else []:
        color, vertex = m.split()
        g.play(BLACK if color == "B" else WHITE, parse_vertex(vertex, size))
    return g, game_to_sgf(g, result=result, extra=info or None)


def random_game(size, seed, length):
    """A random legal game (never filling an own eye), passes included, as (state, SGF)."""
    rng = np.random.default_rng(seed)
    g = GameState(size, komi=7.0)
    for _ in range(length):
        c = g.to_move
        pts = [p for p in g.legal_points(c) if not fb.is_eye(g.board, p, c)]
        g.play(c, pts[rng.integers(len(pts))] if pts and rng.random() > 0.05 else PASS)
    return g, game_to_sgf(g, result="B+R" if seed % 2 else "W+3")


def tar_bytes(files, mode):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


CAPTURE_GAME = "B E5,W D5,B C5,W E4,B D4,W E6,B D6,W pass,B C4,W F5,B E3,W pass,B D5"
CAPTURE_GAME_END = """
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . X O . . . .
    . . X X X O . . .
    . . X X O . . . .
    . . . . X . . . .
    . . . . . . . . .
    . . . . . . . . .
"""

# what the collection below keeps: source id -> the GameState it was written from
KEPT = {}


@pytest.fixture
def collection(tmp_path):
    """A folder the way archives come: loose .sgf files, a multi-game file, a zip holding an
    .sgf and a .tar.gz, a .tar.bz2, and the bad and filtered games the converter must skip."""
    root = tmp_path / "kgs"
    kept = {}

    g, text = game(9, CAPTURE_GAME, result="B+R", BR="3d", WR="1d?")
    write(root / "a.sgf", text)
    kept["kgs/a.sgf#0"] = g

    (g1, t1), (g2, t2) = random_game(9, 1, 60), random_game(9, 2, 90)
    write(root / "sub" / "multi.sgf", t1 + "\n" + t2)  # a collection: two game trees in one file
    kept["kgs/sub/multi.sgf#0"], kept["kgs/sub/multi.sgf#1"] = g1, g2

    (g3, t3), (g4, t4) = random_game(9, 3, 40), random_game(9, 4, 50)
    inner_tgz = tar_bytes({"c.sgf": t4}, "w:gz")
    write(root / "pack.zip", zip_bytes({"inner/b.sgf": t3, "inner/more.tar.gz": inner_tgz,
                                        "inner/readme.txt": "not a game"}))
    kept["kgs/pack.zip!inner/b.sgf#0"] = g3
    kept["kgs/pack.zip!inner/more.tar.gz!c.sgf#0"] = g4

    g5, t5 = random_game(9, 5, 30)
    _, t13 = game(13, "B D4,W K10,B D10,W K4")  # wrong size
    write(root / "old.tar.bz2", tar_bytes({"2004/d.sgf": t5, "2004/e.sgf": t13}, "w:bz2"))
    kept["kgs/old.tar.bz2!2004/d.sgf#0"] = g5

    g6, t6 = game(9, "W E5,B D5,W F5,B pass,W E4", handicap=2, komi=0.5)
    write(root / "handicap2.sgf", t6)
    kept["kgs/handicap2.sgf#0"] = g6
    _, t7 = game(9, "W E5,B D5,W F5,B E4,W pass", handicap=4, komi=0.5)
    write(root / "handicap4.sgf", t7)  # more handicap than allowed

    g8, t8 = game(9, "B E5,W D5,B C5,W E4,B D4,W E6", PB="Jos\u00e9")
    write(root / "latin1.sgf", t8.replace("CA[UTF-8]", "").encode("latin-1"))  # no CA, not UTF-8
    kept["kgs/latin1.sgf#0"] = g8

    _, t9 = game(9, "B E5,W D5,B C5,W E4,B D4,W E6", BR="5k", WR="2d")
    write(root / "lowrank.sgf", t9)
    _, t10 = game(9, "B E5,W D5,B C5")
    write(root / "short.sgf", t10)
    write(root / "illegal.sgf", "(;GM[1]FF[4]SZ[9]KM[7];B[ee];W[dd];B[cc];W[gg];B[dd];W[aa])")  # B on W
    write(root / "unparsable.sgf", "(;GM[1]FF[4]SZ[9];B[ee];W[dd]")  # the file ends mid-game
    write(root / "corrupt.sgf", b"\x00\x01 this is not SGF")
    write(root / "truncated.tar.gz", tar_bytes({"x.sgf": t1, "y.sgf": t2}, "w:gz")[:40])
    write(root / "truncated.zip", zip_bytes({"x.sgf": t1})[:-30])
    write(root / "notes.txt", "a file that is no game")
    KEPT.clear()
    KEPT.update(kept)
    return root


CFG = ConvertConfig(size=9, max_handicap=3, min_rank="1d", min_moves=5, heldout=0.5, games_per_shard=3)


def all_shards(out):
    return sorted(os.path.join(d, f) for d in (out / "train", out / "heldout") for f in os.listdir(d))


# -- reading and counting ----------------------------------------------------------------------

def test_nested_collection_counts_every_game_kept_or_skipped_by_reason(collection, tmp_path):
    out = tmp_path / "shards"
    r = convert([collection], out, CFG)
    assert r["skipped"] == {"corrupt_file": 3, "unparsable": 1, "size": 1, "handicap": 1, "rank": 1,
                            "rank_unknown": 0, "too_short": 1, "illegal": 1}
    assert r["kept"] == len(KEPT) == 8
    assert r["games"] == r["kept"] + sum(r["skipped"].values()) - r["skipped"]["corrupt_file"]
    assert r["splits"]["train"]["games"] + r["splits"]["heldout"]["games"] == 8
    assert r["ignored_files"] == 2  # notes.txt and the readme inside the zip
    assert json.loads((out / "report.json").read_text())["skipped"] == r["skipped"]
    assert any("truncated.zip" in e for e in r["examples"]["corrupt_file"])
    assert "illegal move 5" in r["examples"]["illegal"][0]

    gs = load_shards([out / "train", out / "heldout"])
    assert sorted(gs.source) == sorted(KEPT)
    assert gs.num_positions == sum(r["splits"][s]["positions"] for s in ("train", "heldout"))


def test_rank_filter_lets_unknown_ranks_pass_unless_required(collection, tmp_path):
    strict = ConvertConfig(size=9, min_rank="1d", require_rank=True)
    r = convert([collection], tmp_path / "strict", strict)
    # only a.sgf carries both ranks (3d and "1d?"): every other game lacks them
    assert r["kept"] == 1 and r["skipped"]["rank"] == 1
    assert load_shards(tmp_path / "strict" / ("train" if r["splits"]["train"]["games"] else "heldout")
                       ).source.tolist() == ["kgs/a.sgf#0"]


@pytest.mark.parametrize("text, value", [("1k", 0), ("30k", -29), ("1d", 1), ("3d?", 3), ("2d*", 2),
                                         ("9d", 9), ("1p", 10), ("5 dan", 5), ("15 Kyu", -14)])
def test_ranks_are_ordered_kyu_dan_pro(text, value):
    assert parse_rank(text) == value


@pytest.mark.parametrize("text", ["", "?", "-", "pro", "0k", "3x"])
def test_unreadable_ranks_are_none(text):
    assert parse_rank(text) is None


def test_split_games_takes_every_game_tree_of_a_collection_and_drops_junk():
    _, a = game(9, "B E5")
    _, b = game(9, "B D4,W E5")
    chunks = split_games(b"header junk\n" + a.encode() + b"\n;; between\n" + b.encode() + b"\ntrailer")
    assert [len(load_sgf_game(c.decode()).moves) for c in chunks] == [1, 2]


def test_text_is_decoded_by_its_charset_then_utf8_then_latin1():
    name = "\u674e\u4e16\u77f3"  # a name GB2312 can encode
    assert name in decode_sgf(f"(;CA[GB2312]SZ[9]PB[{name}];B[ee])".encode("gb2312"))
    assert "Jos\u00e9" in decode_sgf("(;SZ[9]PB[Jos\u00e9];B[ee])".encode("utf-8"))
    assert "Jos\u00e9" in decode_sgf("(;SZ[9]PB[Jos\u00e9];B[ee])".encode("latin-1"))
    assert "Jos\u00e9" in decode_sgf("(;CA[no-such-charset]PB[Jos\u00e9])".encode("utf-8"))


# -- shards ------------------------------------------------------------------------------------

def test_shards_round_trip_every_kept_game_to_its_last_position(collection, tmp_path):
    out = tmp_path / "shards"
    convert([collection], out, CFG)
    paths = all_shards(out)
    assert len(paths) >= 3  # 8 games, 3 per shard, split in two
    for path in paths:
        assert path.endswith(".npz") and os.path.basename(path).startswith("shard-")
        with np.load(path, allow_pickle=False) as z:
            assert z["size"].shape == () and int(z["size"]) == 9
            assert z["moves"].dtype == np.int16 and z["offsets"].dtype == np.int64
            assert z["source"].dtype.kind == "U"
    gs = load_shards(paths)
    b = fb.new_board(9)
    for g in range(len(gs)):
        want = KEPT[gs.source[g]]
        sp, sc, mv, co, winner, komi = gs.game(g)
        replay_into(b, sp, sc, mv, co, len(mv))
        check_consistency(b)
        assert (b[0] == want.board[0]).all() and b[8][fb.M_HASH] == want.board[8][fb.M_HASH]
        assert b[8][M_KO] == want.board[8][M_KO]
        assert komi == want.komi and gs.handicap[g] == want.handicap
        rec = load_sgf_game(game_to_sgf(want))
        assert [int(x) for x in mv] == [m.point for m in rec.moves]
    a = list(gs.source).index("kgs/a.sgf#0")
    assert gs.winner[a] == BLACK
    sp, sc, mv, co, _, _ = gs.game(a)
    replay_into(b, sp, sc, mv, co, len(mv))
    n = 9
    assert (b[0].reshape(n + 2, n + 2)[1:-1, 1:-1] == parse_diagram(CAPTURE_GAME_END)).all()


def test_replay_into_any_move_matches_the_record_with_the_mover_to_play(collection, tmp_path):
    convert([collection], tmp_path / "s", CFG)
    gs = load_shards(all_shards(tmp_path / "s"))
    g = list(gs.source).index("kgs/handicap2.sgf#0")
    sp, sc, mv, co, _, _ = gs.game(g)
    rec = load_sgf_game(game_to_sgf(KEPT["kgs/handicap2.sgf#0"]))
    b = fb.new_board(9)
    for k in range(len(mv) + 1):
        replay_into(b, sp, sc, mv, co, k)
        want = rec.replay(move_number=k + 1)
        assert (b[0] == want.board[0]).all(), k
        assert b[8][M_TOMOVE] == want.to_move, k
    replay_into(b, sp, sc, mv, co, 0)  # handicap stones only: white to play
    assert sorted(np.flatnonzero(b[0] == BLACK)) == sorted(handicap_points(9, 2))
    assert b[8][M_TOMOVE] == WHITE


def test_split_is_a_deterministic_hash_of_the_source(collection, tmp_path):
    r1 = convert([collection], tmp_path / "one", CFG)
    r2 = convert([collection], tmp_path / "two", ConvertConfig(**{**CFG.__dict__, "games_per_shard": 1}))
    for split in ("train", "heldout"):
        assert r1["splits"][split]["games"] == r2["splits"][split]["games"]
    held1 = sorted(load_shards(tmp_path / "one" / "heldout").source)
    held2 = sorted(load_shards(tmp_path / "two" / "heldout").source)
    assert held1 == held2 == sorted(s for s in KEPT if is_heldout(s, CFG.heldout))
    assert 0 < len(held1) < len(KEPT)
    ids = [f"kgs/{y}/{k}.sgf#0" for y in range(2000, 2010) for k in range(2000)]
    share = np.mean([is_heldout(s, 0.05) for s in ids])
    assert 0.045 < share < 0.055


def test_rerun_replaces_the_output_and_refuses_foreign_folders(collection, tmp_path):
    out = tmp_path / "shards"
    convert([collection], out, ConvertConfig(**{**CFG.__dict__, "games_per_shard": 1}))
    assert len(all_shards(out)) == 8
    os.makedirs(tmp_path / ".shards.partial-killed" / "train")  # left by a killed conversion
    convert([collection], out, ConvertConfig(**{**CFG.__dict__, "games_per_shard": 100}))
    assert len(all_shards(out)) <= 2
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no partial folders left
    precious = tmp_path / "home"
    write(precious / "thesis.txt", "keep me")
    with pytest.raises(SgfDataError, match="refusing to replace"):
        convert([collection], precious, CFG)
    assert (precious / "thesis.txt").exists()
    with pytest.raises(SgfDataError, match="collection not found"):
        convert([tmp_path / "missing"], tmp_path / "x", CFG)


def test_split_folder_lists_the_shards_and_allows_an_empty_heldout_split(collection, tmp_path):
    out = tmp_path / "small"  # a small collection: the hash split holds none of its games out
    r = convert([collection], out, ConvertConfig(**{**CFG.__dict__, "heldout": 0.0}))
    assert r["splits"]["heldout"]["games"] == 0 and os.listdir(out / "heldout") == []
    train, heldout = split_folder(out)
    assert heldout == [] and len(train) == r["splits"]["train"]["shards"] == 3
    assert train == sorted(train) and all(os.path.dirname(p) == str(out / "train") for p in train)
    shutil.rmtree(out / "heldout")
    assert split_folder(out) == (train, [])
    r = convert([collection], tmp_path / "both", CFG)
    train, heldout = split_folder(tmp_path / "both")
    assert [len(train), len(heldout)] == [r["splits"][s]["shards"] for s in ("train", "heldout")]
    with pytest.raises(ShardError, match="nowhere: no train/ directory"):
        split_folder(tmp_path / "nowhere")
    for p in split_folder(out)[0]:
        os.remove(p)
    with pytest.raises(ShardError, match=re.escape(f"{out / 'train'}: no shards")):
        split_folder(out)


def test_load_shards_refuses_mixed_sizes_and_corrupt_files(tmp_path):
    g9, g13 = game(9, "B E5,W D5")[1], game(13, "B D4,W K10")[1]
    save_shard(tmp_path / "nine.npz", GameSet.from_records([load_sgf_game(g9)], ["nine#0"]))
    save_shard(tmp_path / "thirteen.npz", GameSet.from_records([load_sgf_game(g13)], ["t#0"]))
    assert load_shard(tmp_path / "nine.npz").size == 9
    with pytest.raises(ShardError, match="mixed board sizes.*thirteen.npz"):
        load_shards([tmp_path / "nine.npz", tmp_path / "thirteen.npz"])
    write(tmp_path / "bad" / "shard-00000.npz", b"PK\x03\x04 truncated")
    with pytest.raises(ShardError, match="corrupt shard .*shard-00000.npz: not an .npz file"):
        load_shards(tmp_path / "bad")
    np.save(tmp_path / "array.npy", np.zeros(3))  # a .npy file, not a shard
    with pytest.raises(ShardError, match="array.npy: not an .npz file"):
        load_shard(tmp_path / "array.npy")
    np.savez_compressed(tmp_path / "partial.npz", size=np.int64(9), komi=np.zeros(1, np.float32))
    with pytest.raises(ShardError, match="missing arrays"):
        load_shard(tmp_path / "partial.npz")
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ShardError, match="no shards"):
        load_shards(tmp_path / "empty")
    with pytest.raises(ValueError, match="board size 13"):
        GameSet.from_records([load_sgf_game(g9), load_sgf_game(g13)], ["a", "b"])


def test_sampled_positions_are_uniform_and_never_a_pass():
    texts = [game(9, "B E5,W pass,B D5,W D4,B pass,W pass")[1], game(9, "B C3,W G7,B pass,W C4")[1]]
    gs = GameSet.from_records([load_sgf_game(t) for t in texts], ["one#0", "two#0"])
    assert gs.num_positions == 3 + 3
    games, moves = sample_positions(gs, 6000, np.random.default_rng(0))
    targets = gs.moves[gs.offsets[games] + moves]
    assert (targets != PASS).all()
    pairs, counts = np.unique(np.stack([games, moves]), axis=1, return_counts=True)
    assert [tuple(p) for p in pairs.T] == [(0, 0), (0, 2), (0, 3), (1, 0), (1, 1), (1, 3)]
    assert counts.min() > 850 and counts.max() < 1150  # 1000 each


def test_cli_converts_and_prints_the_report(collection, tmp_path, capsys):
    assert main([str(collection), "--out", str(tmp_path / "cli"), "--size", "9", "--min-moves", "5",
                 "--games-per-shard", "4", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "kept 10" in text and "illegal 1" in text and "report.json" in text
    with pytest.raises(SystemExit):
        main([str(collection), "--out", str(tmp_path / "cli2"), "--size", "9", "--min-rank", "strong"])
    assert "cannot read rank" in capsys.readouterr().err
