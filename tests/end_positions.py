"""End-of-game positions shared by the search tests (``test_mcts.py``) and the GTP tests
(``test_gtp.py``), as board diagrams (``engine.diagram``)."""

# White's top is alive; its stone on F4 has one liberty inside black's area and is dead. By
# Tromp-Taylor it still counts, and its liberty makes the 3x3 corner around it neutral: with
# komi 14.5 white wins that count by 4.5 and loses by 6.5 once the dead stone is taken off.
DEAD_INSIDE = """
    7 . O . O . O .
    6 O O O O O O O
    5 X X X X X X X
    4 X . X . X O X
    3 X X X X . . .
    2 . X . X . . .
    1 X X X X . . .
      A B C D E F G
"""
DEAD_INSIDE_KOMI = 14.5
