"""Ko positions shared by the rules tests (``test_rules.py``) and the GNU Go comparison
(``test_gnugo_diff.py``), as board diagrams (``engine.diagram``)."""

# Three kos side by side. The kos at rows 8 and 5 are white's stones that black can take;
# the ko at row 2 is a black stone that white can take.
TRIPLE_KO = """
    9 . X O . . . . . .
    8 X O . O . . . . .
    7 . X O . . . . . .
    6 . X O . . . . . .
    5 X O . O . . . . .
    4 . X O . . . . . .
    3 . X O . . . . . .
    2 X . X O . . . . .
    1 . X O . . . . . .
      A B C D E F G H J
"""

# Sending two, returning one: black fills in, white takes two stones, black takes one back.
# Three moves, so the start comes back with the *other* side to move.
SEND_TWO = """
    5 . X . X .
    4 O O X . .
    3 . . . . .
    2 . . . . .
    1 . . . . .
      A B C D E
"""
