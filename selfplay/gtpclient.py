"""Drive a GTP engine running as a subprocess: the controller side of GTP 2.

``GTPClient(argv)`` starts the engine with pipes on stdin/stdout and sends one command at a
time. Every command has a deadline: a background thread reads the engine's stdout into a
queue, so a silent engine is noticed after ``timeout`` seconds instead of blocking the match
forever. The engine's stderr is drained by a second thread (kept as a short tail for error
messages, and copied to a log file when one is given) so a chatty engine never stalls on a
full pipe.

Three ways a command can fail:

- ``GTPError``: the engine answered ``? message``. The engine is fine; the command was not.
- ``EngineTimeout``: no complete answer before the deadline. The engine is now in an unknown
  state, so the client kills it; ``restart()`` starts a fresh one.
- ``EngineCrash``: the engine exited or closed its stdout.

Both ``EngineTimeout`` and ``EngineCrash`` are ``EngineFailure``: the engine cannot go on.

The engine runs in its own process group (POSIX), and killing it kills the whole group, so an
engine started through a wrapper script does not leave its real process behind.
"""
import collections
import os
import queue
import signal
import subprocess
import threading
import time

STDERR_TAIL_LINES = 40  # stderr lines kept for error messages


class GTPError(Exception):
    """The engine answered a command with ``?``; the message is the engine's text."""


class EngineFailure(Exception):
    """The engine can no longer be used (timed out or exited)."""


class EngineTimeout(EngineFailure):
    """No answer within the deadline."""


class EngineCrash(EngineFailure):
    """The engine exited, closed its output, or could not be started."""


class GTPClient:
    """One engine process and its GTP conversation.

    ``argv``: the command line (list of strings, no shell). ``name``: used in messages.
    ``stderr_path``: append the engine's stderr to this file. ``startup_timeout``: seconds the
    first answer may take (a fresh engine may need to load or compile).
    """

    def __init__(self, argv, name=None, stderr_path=None, startup_timeout=60.0, cwd=None, env=None):
        if not argv:
            raise ValueError("empty engine command")
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.stderr_path = stderr_path
        self.startup_timeout = startup_timeout
        self.cwd = cwd
        self.env = env
        self.starts = 0  # processes started so far (1 + restarts)
        self.proc = None
        self._lines = None  # queue of stdout lines; None marks end of output
        self._stderr_tail = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._threads = []
        self._kill_lock = threading.Lock()
        self.start()

    # -- process ---------------------------------------------------------------------
    def start(self):
        """Start the engine and wait (up to ``startup_timeout``) until it answers GTP."""
        self._stderr_tail.clear()
        self._lines = queue.Queue()
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=self.cwd, env=self.env, text=True, encoding="utf-8", errors="replace",
                bufsize=1, start_new_session=(os.name == "posix"))
        except OSError as e:
            self.proc = None
            raise EngineCrash(f"{self.name}: cannot start {' '.join(self.argv)!r}: {e}") from e
        self.starts += 1
        log = open(self.stderr_path, "a", encoding="utf-8") if self.stderr_path else None
        self._threads = [
            threading.Thread(target=_pump_stdout, args=(self.proc.stdout, self._lines), daemon=True),
            threading.Thread(target=_pump_stderr, args=(self.proc.stderr, self._stderr_tail, log),
                             daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.command("protocol_version", timeout=self.startup_timeout)

    def restart(self):
        self.close()
        self.start()

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self, timeout=2.0):
        """Ask the engine to quit, kill it if it does not; safe to call twice."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._send("quit")
                self._read_response(timeout)
            except (EngineFailure, GTPError):
                pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self):
        """Kill the engine (and its process group) now."""
        with self._kill_lock:  # a match may abort a game from another thread
            proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass
        for t in self._threads:  # they end at EOF, which the dead process gave them
            t.join(timeout=1.0)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass

    def stderr_tail(self):
        """The engine's last stderr lines, for error messages."""
        return "\n".join(self._stderr_tail)

    # -- commands --------------------------------------------------------------------
    def command(self, line, timeout=None):
        """Send one command and return the answer text (``=`` and id stripped).

        Raises ``GTPError`` on ``?``, ``EngineTimeout`` after ``timeout`` seconds (the engine is
        then killed), ``EngineCrash`` if the engine is gone.
        """
        if self.proc is None:
            raise EngineCrash(f"{self.name}: engine is not running")
        self._send(line)
        return self._read_response(timeout, line)

    def _send(self, line):
        proc = self.proc
        try:
            proc.stdin.write(line.strip() + "\n")
            proc.stdin.flush()
        except (AttributeError, BrokenPipeError, OSError, ValueError) as e:
            raise self._crash(f"cannot send {line.split()[0]!r}") from e

    def _read_response(self, timeout, line=""):
        deadline = None if timeout is None else time.monotonic() + timeout
        body = None  # answer lines once the '=' / '?' line was seen
        ok = True
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._timeout(line, timeout)
            try:
                text = self._lines.get(timeout=remaining)
            except queue.Empty:
                raise self._timeout(line, timeout) from None
            if text is None:
                self._lines.put(None)  # keep the end marker for later reads
                raise self._crash(f"exited while answering {line.split()[0]!r}" if line else "exited")
            text = text.rstrip("\r\n")
            if body is None:
                if not text or text[0] not in "=?":
                    continue  # stray output before an answer is not part of GTP
                ok = text[0] == "="
                first = text[1:]
                k = 0  # an id, if any, follows '=' / '?' directly
                while k < len(first) and first[k].isdigit():
                    k += 1
                body = [first[k:].strip()]
            elif text == "":
                answer = "\n".join(body).strip()
                if not ok:
                    raise GTPError(f"{self.name}: {line.split()[0] if line else 'command'}: {answer}")
                return answer
            else:
                body.append(text)

    def _timeout(self, line, timeout):
        self.kill()
        what = line.split()[0] if line else "answer"
        return EngineTimeout(f"{self.name}: no answer to {what!r} within {timeout:g} s")

    def _crash(self, what):
        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                code = None
        self.kill()
        tail = self.stderr_tail()
        msg = f"{self.name}: engine {what} (exit code {code})"
        if tail:
            msg += "; stderr:\n" + tail
        return EngineCrash(msg)

    # -- the commands a match uses ------------------------------------------------------
    def boardsize(self, n, timeout=None):
        self.command(f"boardsize {n}", timeout)

    def clear_board(self, timeout=None):
        self.command("clear_board", timeout)

    def komi(self, komi, timeout=None):
        self.command(f"komi {komi:g}", timeout)

    def play(self, color, vertex, timeout=None):
        """``color`` 'B'/'W', ``vertex`` 'D4' / 'pass'."""
        self.command(f"play {color} {vertex}", timeout)

    def genmove(self, color, timeout=None):
        """The engine's move for ``color`` as it wrote it: 'D4', 'pass', 'resign' (any case)."""
        return self.command(f"genmove {color}", timeout).strip()

    def final_score(self, timeout=None):
        return self.command("final_score", timeout).strip()

    def known_command(self, name, timeout=None):
        return self.command(f"known_command {name}", timeout).strip().lower() == "true"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pump_stdout(stream, lines):
    try:
        for text in stream:
            lines.put(text)
    except (OSError, ValueError):
        pass
    lines.put(None)


def _pump_stderr(stream, tail, log):
    try:
        for text in stream:
            tail.append(text.rstrip("\r\n"))
            if log is not None:
                log.write(text)
                log.flush()
    except (OSError, ValueError):
        pass
    finally:
        if log is not None:
            log.close()
