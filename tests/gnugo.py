"""A small GTP client that drives GNU Go as a rules oracle for the tests.

GNU Go runs as ``gnugo --mode gtp --chinese-rules`` plus its ko option, so that legality
(``is_legal`` / ``all_legal``), captures (``list_stones`` / ``captures``) and area scores
(``final_score``) can be compared with our own rules engine move by move::

    with GnuGo(9, komi=7.0, ko_rule="simple") as gg:
        gg.play("b", "E5")
        assert "E5" not in gg.all_legal("w")

Vertices are GTP text (``D4``, ``pass``) in both directions; the test converts them with
``engine.coords``. A command GNU Go refuses raises ``GTPError``.
"""
import os
import subprocess

GNUGO = "/usr/games/gnugo"

# our ko_rule name -> GNU Go command-line option
KO_OPTIONS = {
    "simple": "--simple-ko",
    "positional": "--positional-superko",
    "situational": "--situational-superko",
}


def available(path=GNUGO):
    """True when a GNU Go binary is installed at ``path``."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


class GTPError(RuntimeError):
    """GNU Go answered a command with ``?``."""


def score_value(text):
    """GTP score text (``B+3.5``, ``W+2``, ``0``) -> black minus white as a float."""
    t = text.strip().upper()
    if t in ("0", "JIGO"):
        return 0.0
    if len(t) < 3 or t[0] not in "BW" or t[1] != "+":
        raise ValueError(f"not a GTP score: '{text}'")
    v = float(t[2:])
    return v if t[0] == "B" else -v


class GnuGo:
    """One GNU Go process in GTP mode with a fresh board of the given size."""

    def __init__(self, size, komi=0.0, ko_rule="simple", path=GNUGO, level=1):
        if ko_rule not in KO_OPTIONS:
            raise ValueError(f"ko rule must be one of {tuple(KO_OPTIONS)}")
        self.size = size
        self.proc = subprocess.Popen(
            [path, "--mode", "gtp", "--chinese-rules", KO_OPTIONS[ko_rule], "--level", str(level)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1,
        )
        self.send(f"boardsize {size}")
        self.send("clear_board")
        self.send(f"komi {komi}")

    # -- protocol -------------------------------------------------------------------
    def send(self, command):
        """Send one command; return the answer text, or raise GTPError on failure."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if line == "":
                raise GTPError(f"GNU Go exited during '{command}'")
            line = line.rstrip("\r\n")
            if line == "" and lines:
                break
            if line or lines:
                lines.append(line)
        status, first = lines[0][0], lines[0][1:].strip()
        text = "\n".join([first] + lines[1:]).strip()
        if status != "=":
            raise GTPError(f"'{command}': {text}")
        return text

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
            except (GTPError, OSError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- queries --------------------------------------------------------------------
    def play(self, color, vertex):
        """Play ``color`` (``b`` / ``w``) at a vertex; False when GNU Go calls it illegal."""
        try:
            self.send(f"play {color} {vertex}")
            return True
        except GTPError as e:
            if "illegal move" in str(e):
                return False
            raise

    def is_legal(self, color, vertex):
        return self.send(f"is_legal {color} {vertex}") == "1"

    def all_legal(self, color):
        """Set of vertices (upper case, no pass) where ``color`` may play."""
        return {v.upper() for v in self.send(f"all_legal {color}").split()}

    def stones(self, color):
        """Set of vertices holding ``color``'s stones."""
        return {v.upper() for v in self.send(f"list_stones {color}").split()}

    def captures(self, color):
        """Stones captured so far by ``color``."""
        return int(self.send(f"captures {color}"))

    def final_score(self):
        """GNU Go's own end-of-game score (its dead-stone judgement), black minus white."""
        return score_value(self.send("final_score"))

    def dead_stones(self):
        return {v.upper() for v in self.send("final_status_list dead").split()}

    def fixed_handicap(self, count):
        """Vertices of GNU Go's fixed handicap placement on a cleared board."""
        self.send("clear_board")
        return {v.upper() for v in self.send(f"fixed_handicap {count}").split()}
