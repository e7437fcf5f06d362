"""The progress bar of the command-line tools that work through games: a tqdm bar on stderr,
or None where there is nothing to show (tqdm not installed, the bar not wanted, no games)."""
import sys


def progress_bar(total=None, enabled=True, unit="game"):
    """A tqdm bar on stderr counting ``total`` (None: an open count), or None when the bar is
    not ``enabled``, ``total`` is 0 or tqdm is not installed. Callers test for None before
    ``update`` / ``close``."""
    if not enabled or total == 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)
