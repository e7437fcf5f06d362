"""Atomic file writes, and the one JSON reader for run files.

Why: training, self-play, gating, matches and tournaments run for hours or days and are stopped
any way at all -- Ctrl-C, a full disk, an out-of-memory kill, SIGKILL, a power cut -- and are
then resumed from their files (checkpoints, ``config.json``, the ledger, games, shards, match
summaries). A file written in place can be cut off half-way, and a truncated checkpoint or a
JSON file that no longer parses breaks the resume, or worse, is read as data. So every run file
is written here, the same way:

1. into a temporary file in the *same folder* as the target (``tempfile.mkstemp``: a unique
   name, so two writers of one file never share a temporary; the same folder, so the rename
   below stays on one filesystem),
2. flushed and fsync'd, so the bytes are on disk before any name points at them,
3. renamed over the target with ``os.replace``, which is atomic: a reader that opens the name
   sees the old file or the complete new one, never half of one; the folder is fsync'd too,
   so after a power cut the name points at the new file, not at nothing.

When the writer raises, the temporary file is removed, the exception goes on, and the target
is untouched. Only a kill between steps 1 and 3 leaves a temporary file behind; it is named
``.<target name>.<random>.tmp`` -- hidden and ending in ``.tmp``, so no listing of ``*.npz``,
``*.json``, ``*.sgf`` or ``*.pt`` picks it up; ``remove_stale(folder)`` deletes them, and
long runs call it on their folders when they start or resume.

The new file keeps the permission bits of the file it replaces; a new file gets what a plain
``open`` would (0o666 less the process umask), not mkstemp's 0o600, which would hide
checkpoints and games from other users.

Use::

    with atomic_file(path, "wb") as f:          # any writer that takes a file object
        torch.save(payload, f)                  # (np.savez to a file object adds no ".npz")
    write_text(path, text)
    write_json(path, data, indent=2, sort_keys=True)   # json.dump's options, then a newline
    copy_file(src, dst)
    data = read_json_object(path)               # {} when absent, SystemExit naming the file
    remove_stale(folder)                        # temporaries of a killed writer

The readers report a broken file with the file's name and what is wrong: ``PATH: not valid
JSON (...)`` or ``PATH: expected a JSON object``, raised as ``SystemExit`` for command-line
tools (the message is all the user sees) or as the ``error`` class a library caller asks for.
"""
import contextlib
import functools
import io
import json
import os
import re
import shutil
import tempfile

# the temporaries atomic_file makes: "." + target name + "." + mkstemp's random part + ".tmp"
_TMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")


@contextlib.contextmanager
def atomic_file(path, mode="w", encoding="utf-8", newline=None):
    """An open file (``mode`` "w" text, ``encoding`` / ``newline`` as for ``open``, or "wb")
    whose contents replace ``path`` whole when the ``with`` block ends without an exception;
    on an exception the temporary file is removed and ``path`` is left as it was."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file: mode must be 'w' or 'wb', not {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:  # closes fd even when the text layer cannot be made
            text = mode == "w"
            with io.TextIOWrapper(raw, encoding=encoding, newline=newline) if text else raw as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename durable; a filesystem that cannot fsync a folder is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=1)
def _umask():
    # read once: os.umask can only be read by setting it, which races with other threads
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path):
    """Permission bits for the new ``path``: those of the file it replaces, else those a
    plain ``open`` would give (0o666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def remove_stale(folder):
    """Delete the temporaries that writers killed mid-write left in ``folder`` (not in its
    subfolders); returns how many. Call it only when no writer of ``folder`` is running: a
    live writer's temporary looks the same."""
    removed = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        if _TMP_NAME.match(name):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def write_text(path, text, encoding="utf-8", newline=None):
    """Replace ``path`` with ``text`` atomically."""
    with atomic_file(path, "w", encoding=encoding, newline=newline) as f:
        f.write(text)


def write_json(path, data, **json_kwargs):
    """Replace ``path`` with ``json.dump(data, **json_kwargs)`` and a final newline,
    atomically. ``json_kwargs`` (``indent``, ``sort_keys``, ``allow_nan``, ...) are the caller's
    format; a value ``json`` refuses (NaN with ``allow_nan=False``) raises before ``path``
    changes."""
    with atomic_file(path, "w") as f:
        json.dump(data, f, **json_kwargs)
        f.write("\n")


def copy_file(src, dst):
    """Copy the bytes of ``src`` over ``dst`` atomically (a reader of ``dst`` sees the old file
    or the whole copy)."""
    with open(src, "rb") as fi, atomic_file(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)


def read_json(path, default=None, error=SystemExit):
    """The JSON value in ``path``; ``default`` when there is no such file. A file that does not
    parse raises ``error("PATH: not valid JSON (reason)")``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{path}: not valid JSON ({e})") from None


def read_json_object(path, default=None, error=SystemExit):
    """The JSON object (a dict) in ``path``; ``default`` (a new ``{}`` when None) when there is
    no such file. Raises ``error`` naming the file when it is not valid JSON, or valid JSON
    but not an object."""
    absent = object()
    data = read_json(path, absent, error)
    if data is absent:
        return {} if default is None else default
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object")
    return data


__all__ = ["atomic_file", "copy_file", "read_json", "read_json_object", "remove_stale",
           "write_json", "write_text"]
