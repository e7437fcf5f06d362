"""Fixtures shared by the test files.

``gnugo`` starts GNU Go processes for the differential rules tests and closes them after the
test; it skips the test when ``/usr/games/gnugo`` is not installed (CI installs it, see
``.ci/run``). ``_private_cache`` points ``XDG_CACHE_HOME`` at a folder of the test run, so
the engine's caches stay out of the user's home; nothing else here changes how tests run.
"""
import os
import sys

import pytest

# The GTP client lives next to the tests as a plain module; make it importable whatever
# pytest's import mode is.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from gnugo import GnuGo, available  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Files the engine caches (``nets.quantize``'s int8 graphs) go to a folder of this test
    run, not the user's ~/.cache; subprocesses inherit it."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture
def gnugo():
    """Factory ``gnugo(size, komi=0.0, ko_rule="simple")`` -> a running ``GnuGo`` on an empty
    board; every process it started is shut down when the test ends."""
    if not available():
        pytest.skip("GNU Go is not installed at /usr/games/gnugo")
    started = []

    def start(size, komi=0.0, ko_rule="simple"):
        g = GnuGo(size, komi=komi, ko_rule=ko_rule)
        started.append(g)
        return g

    yield start
    for g in started:
        g.close()
