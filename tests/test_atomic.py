"""engine.atomic: a file is replaced whole or not at all, no temporary file is left behind, and
the JSON reader names the file and the problem."""
import json
import os
import re

import numpy as np
import pytest

from engine import atomic
from engine.atomic import (atomic_file, copy_file, read_json, read_json_object, write_json,
                           write_text)


class Boom(Exception):
    pass


def test_text_replaces_the_file_whole(tmp_path):
    path = tmp_path / "run.txt"
    write_text(path, "old\n")
    write_text(path, "new\nlonger contents\n")
    assert path.read_text() == "new\nlonger contents\n"
    assert os.listdir(tmp_path) == ["run.txt"]


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_writer_that_raises_leaves_the_old_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "config.json"
    path.write_text("old contents")
    with pytest.raises(error):
        with atomic_file(path) as f:
            f.write("half of the new")
            f.flush()
            raise error()
    assert path.read_text() == "old contents"
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_writer_that_raises_creates_nothing(tmp_path):
    with pytest.raises(Boom):
        with atomic_file(tmp_path / "new.bin", "wb") as f:
            f.write(b"\x00" * 10)
            raise Boom()
    assert os.listdir(tmp_path) == []


def test_the_temporary_file_is_hidden_in_the_same_folder_and_unique(tmp_path):
    path = tmp_path / "game-0001.sgf"
    with atomic_file(path) as a, atomic_file(path) as b:
        temps = sorted(os.listdir(tmp_path))
        a.write("first")
        b.write("second")
    # the name remove_stale and listings of *.sgf / *.npz rely on
    assert len(temps) == 2 and all(re.match(r"^\.game-0001\.sgf\..+\.tmp$", t) for t in temps)
    assert path.read_text() == "first"  # the writer that finished last wins
    assert os.listdir(tmp_path) == ["game-0001.sgf"]


def test_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "nope" / "x.txt", "x")
    assert os.listdir(tmp_path) == []


def test_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_file(tmp_path / "x", "a"):
            pass
    assert os.listdir(tmp_path) == []


def test_permissions_are_kept_and_new_files_are_readable(tmp_path):
    path = tmp_path / "x.txt"
    write_text(path, "a")
    assert os.stat(path).st_mode & 0o777 == 0o644  # not mkstemp's 0o600
    os.chmod(path, 0o600)
    write_text(path, "b")
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_text_encoding_and_newline(tmp_path):
    path = tmp_path / "x.sgf"
    write_text(path, "GN[\u00e9]\r\n", newline="")
    assert path.read_bytes() == "GN[\u00e9]\r\n".encode("utf-8")


@pytest.mark.parametrize("name", ["game.npz", "shard.bin"])
def test_npz_through_a_file_object_keeps_the_exact_name(tmp_path, name):
    path = tmp_path / name
    with atomic_file(path, "wb") as f:
        np.savez_compressed(f, a=np.arange(4))
    assert os.listdir(tmp_path) == [name]
    with np.load(path) as z:
        assert list(z["a"]) == [0, 1, 2, 3]


def test_json_round_trip_keeps_the_callers_format(tmp_path):
    path = tmp_path / "config.json"
    data = {"b": [1, 2.5, None], "a": {"x": "\u00e9"}, "c": True}
    write_json(path, data, indent=2, sort_keys=True)
    assert path.read_text(encoding="utf-8") == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert read_json_object(path) == data
    write_json(path, [1, 2], indent=1)
    assert path.read_text() == "[\n 1,\n 2\n]\n"
    assert read_json(path) == [1, 2]


def test_json_refused_by_the_encoder_leaves_the_old_file(tmp_path):
    path = tmp_path / "ledger.json"
    write_json(path, {"elo": 1.0})
    with pytest.raises(ValueError):
        write_json(path, {"elo": float("nan")}, allow_nan=False)
    assert read_json_object(path) == {"elo": 1.0}
    assert os.listdir(tmp_path) == ["ledger.json"]


def test_missing_file_gives_the_default(tmp_path):
    path = tmp_path / "config.json"
    first = read_json_object(path)
    assert first == {}
    first["x"] = 1  # a new dict each time, not a shared default
    assert read_json_object(path) == {}
    assert read_json_object(path, default={"gates": []}) == {"gates": []}
    assert read_json(path) is None
    assert os.listdir(tmp_path) == []


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"net": ')
    with pytest.raises(SystemExit, match=r"config\.json: not valid JSON \(Expecting value"):
        read_json_object(path)
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        read_json(path, error=ValueError)


def test_json_that_is_not_an_object_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    for text in ("[1, 2]", "null", "3"):
        path.write_text(text)
        with pytest.raises(SystemExit) as e:
            read_json_object(path)
        assert str(e.value) == f"{path}: expected a JSON object"
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_json_object(path, error=ValueError)


def test_copy_file(tmp_path):
    src, dst = tmp_path / "step-10.pt", tmp_path / "best.pt"
    src.write_bytes(bytes(range(256)) * 1000)
    dst.write_bytes(b"old")
    copy_file(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(FileNotFoundError):
        copy_file(tmp_path / "missing.pt", dst)
    assert dst.read_bytes() == src.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["best.pt", "step-10.pt"]


def test_remove_stale_deletes_only_the_temporaries_of_killed_writers(tmp_path):
    # a SIGKILL gives atomic_file no chance to clean up: leftovers named as mkstemp names them
    for name in (".best.pt.k3_x9q1.tmp", ".game-0007.sgf.abcdefgh.tmp"):
        (tmp_path / name).write_bytes(b"half")
    keep = ["best.pt", ".hidden", "notes.tmp", ".tmp", "game-0001.sgf"]
    for name in keep:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".x.json.abcdefgh.tmp").write_text("x")  # subfolders are not touched
    assert atomic.remove_stale(tmp_path) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["sub"])
    assert os.listdir(tmp_path / "sub") == [".x.json.abcdefgh.tmp"]
    assert atomic.remove_stale(tmp_path / "missing") == 0


def test_a_new_file_gets_the_mode_open_would_give_under_the_umask(tmp_path):
    old = os.umask(0o027)
    atomic._umask.cache_clear()
    try:
        write_text(tmp_path / "private.json", "{}")
        assert os.stat(tmp_path / "private.json").st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
        atomic._umask.cache_clear()
