"""``python -m gtp``: the GTP engine on stdin/stdout.

    .venv/bin/python -m gtp --player mcts --seconds 2 --threads 2

``parse_args`` reads the command line, ``engine_config`` and ``build_player`` turn it into
the engine's settings and its player, ``main`` runs the protocol. stdout carries GTP and
nothing else: anything else printed in the process goes to stderr, and diagnostics go to
stderr or, with ``--log FILE``, to that file.
"""
import argparse
import inspect
import logging
import sys

from engine.game import KO_RULES
from engine.timecontrol import TimeConfig
from gtp.engine import EngineConfig, GtpEngine

log = logging.getLogger("gtp")


def _playout_modes():
    try:
        from engine.playout import MODES
    except ImportError:
        return ""
    return ": " + ", ".join(MODES)


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m gtp",
        description="Go engine speaking GTP 2 on stdin/stdout, with Leela Zero (lz-analyze) "
                    "and KataGo (kata-analyze) analysis output and GoGui analyze commands.")
    g = p.add_argument_group("player")
    g.add_argument("--player", choices=("auto", "mcts", "zero", "lee", "random"), default="auto",
                   help="auto: the network of --weights on its board size and mcts on the "
                        "others (mcts alone without --weights); mcts: tree search with rollouts; "
                        "zero: tree search on an AlphaGo Zero network alone (--weights, default "
                        "the shipped 9x9 network; refuses other sizes); lee: AlphaGo Lee search "
                        "(SL policy priors, value net and rollout policy mixed by --lam; "
                        "default the shipped 9x9 files); random: uniform legal moves "
                        "(default: auto)")
    g.add_argument("--weights", metavar="CHECKPOINT", default=None,
                   help="network checkpoint of the auto or zero player (a .pt file from "
                        "python -m selfplay.zero, nets.train or nets.export)")
    g.add_argument("--visits", type=int, default=None,
                   help="at most this many simulations per move (default: no cap)")
    g.add_argument("--seconds", type=float, default=None,
                   help="thinking time per move in seconds; a GTP time control can only shorten it "
                        "(default: from the time control, else --default-seconds)")
    g.add_argument("--default-seconds", type=float, default=EngineConfig.default_seconds,
                   help="thinking time per move when neither --visits, --seconds nor a time control "
                        "limits it (default: %(default)s)")
    g.add_argument("--threads", type=int, default=2, help="search threads (default: %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    g.add_argument("--resign-threshold", type=float, default=None,
                   help="resign when the estimated winrate falls below this (default: the player's)")
    g.add_argument("--lam", type=float, default=None,
                   help="network player: weight of a playout per leaf in the leaf value, "
                        "Q = (1-lam) Wv/Nv + lam Wr/Nr (default 0: the network's value alone)")
    # nets.evaluator.PRECISIONS, spelled out: importing it would load torch for every player
    g.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default=None,
                   help="arithmetic of the AlphaGo Zero network's forward pass: int8 (CPU) "
                        "quantizes the network, the fastest where the CPU has int8 dot products "
                        "(AVX512-VNNI, AVX-VNNI, AMX); bf16 is 2.5-3x faster than fp32 on CPUs "
                        "with native bf16 (AVX512-BF16, AMX) and bf16 GPUs; auto takes int8, "
                        "else bf16, where the hardware has it, else fp32 (default: auto)")
    g.add_argument("--value-weights", metavar="CHECKPOINT", default=None,
                   help="lee player: value network (default: the shipped one of the board size)")
    g.add_argument("--rollout-model", metavar="NPZ", default=None,
                   help="lee player: rollout/tree policy model from nets.rollout_train "
                        "(default: the shipped one)")
    g.add_argument("--tree-model", metavar="NPZ", default=None,
                   help="lee player: tree policy model (nets.rollout_train --tree), the priors "
                        "of a node until the policy network's arrive and those of --no-policy "
                        "(default: the shipped one)")
    g.add_argument("--beta", type=float, default=None,
                   help="lee player: softmax temperature of the policy priors (default 0.67)")
    g.add_argument("--expand-threshold", type=int, default=None,
                   help="visits before a leaf gets children (default: the player's; lee 8)")
    g.add_argument("--policy-only", action="store_true", default=None,
                   help="lee player: the policy network alone, no search")
    g.add_argument("--no-policy", action="store_true", default=None,
                   help="lee player: tree-policy priors instead of the policy network's")
    g.add_argument("--sync", action="store_true", default=None,
                   help="lee player: every batch of leaves waits for its network answers "
                        "(default: the paper's asynchronous search, rollouts never wait)")
    g.add_argument("--settle", action="store_true", default=None,
                   help="lee player: each search ends by waiting for the network answers it "
                        "asked for (asynchronous search)")
    g.add_argument("--c-puct", type=float, default=None,
                   help="exploration weight of the prior in PUCT, on win probabilities in [0, 1] "
                        "(default: the player's; zero 1.5, mcts and lee 2.5)")
    g.add_argument("--fpu-reduction", type=float, default=None,
                   help="an unvisited move is valued at its parent's winrate minus this "
                        "(default: the player's; zero 0.25, mcts 0.2, lee 0)")
    g.add_argument("--playout-mode", default=None,
                   help=f"rollout policy of the mcts player{_playout_modes()} (default: the player's)")
    g = p.add_argument_group("game")
    g.add_argument("--size", type=int, default=None,
                   help="board size before any boardsize (default: the network's size for a "
                        "player that plays one size, else 19)")
    g.add_argument("--komi", type=float, default=7.5, help="komi before any komi command (default: 7.5)")
    g.add_argument("--ko-rule", choices=KO_RULES, default="positional",
                   help="simple ko, positional or situational superko (default: positional)")
    g = p.add_argument_group("analysis")
    g.add_argument("--analysis-interval", type=float, default=EngineConfig.analysis_interval,
                   help="seconds between lz-analyze/kata-analyze lines when the GUI gives no "
                        "interval (default: %(default)s)")
    g.add_argument("--analysis-max-moves", type=int, default=0,
                   help="moves per analysis line unless the GUI sends maxmoves; 0 = all (default: 0)")
    g.add_argument("--gfx-seconds", type=float, default=EngineConfig.gfx_seconds,
                   help="thinking time behind the GoGui visit and policy heatmaps (default: %(default)s)")
    g = p.add_argument_group("time control")
    g.add_argument("--lag-margin", type=float, default=TimeConfig.lag_margin,
                   help="seconds kept back on every move for network and GUI lag (default: %(default)s)")
    g = p.add_argument_group("identity")
    g.add_argument("--gtp-version", default=None,
                   help="answer to the GTP version command (default: the package version, %s); "
                        "Lizzie warns about versions below 0.15" % EngineConfig().version)
    g = p.add_argument_group("diagnostics")
    g.add_argument("--log", metavar="FILE", default=None,
                   help="write diagnostics (commands, responses, timings, errors) to FILE "
                        "instead of stderr")
    return p


def parse_args(argv=None):
    """Parse and check the command line (argparse exits with a message on bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.size is not None and not 2 <= args.size <= 19:
        parser.error("--size must be 2..19")
    for name in ("visits", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("seconds", "default_seconds", "analysis_interval", "gfx_seconds"):
        v = getattr(args, name)
        if v is not None and v <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.lag_margin < 0 or args.analysis_max_moves < 0:
        parser.error("--lag-margin and --analysis-max-moves must not be negative")
    if args.gtp_version is not None and (not args.gtp_version.strip() or len(args.gtp_version.split()) > 1):
        parser.error("--gtp-version must be one word")
    return args


def engine_config(args, player=None):
    """The engine settings of the command line; without --size, a player whose network plays
    one board size starts on that size (not on a 19x19 board it would refuse)."""
    size = args.size if args.size is not None else getattr(player, "board_size", None) or 19
    return EngineConfig(
        size=size, komi=args.komi, ko_rule=args.ko_rule, visits=args.visits,
        seconds=args.seconds, default_seconds=args.default_seconds,
        analysis_interval=args.analysis_interval, analysis_max_moves=args.analysis_max_moves,
        gfx_seconds=args.gfx_seconds, time=TimeConfig(lag_margin=args.lag_margin),
        **({"version": args.gtp_version} if args.gtp_version else {}))


def _accepted(factory, options):
    """The options ``factory`` takes (all of them when it has ``**kwargs``)."""
    params = inspect.signature(factory).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return options
    names = {p.name for p in params}
    dropped = sorted(set(options) - names)
    if dropped:
        log.warning("player factory ignores options %s", dropped)
    return {k: v for k, v in options.items() if k in names}


def build_player(args):
    """The player named by ``--player`` with the search options that were given."""
    options = {"seed": args.seed, "threads": args.threads, "ko_rule": args.ko_rule, "weights": args.weights,
               "resign_threshold": args.resign_threshold, "playout_mode": args.playout_mode,
               "lam": args.lam, "precision": args.precision, "value_weights": args.value_weights,
               "rollout_model": args.rollout_model, "tree_model": args.tree_model,
               "beta": args.beta,
               "expand_threshold": args.expand_threshold, "policy_only": args.policy_only,
               "no_policy": args.no_policy, "sync": args.sync, "settle": args.settle,
               "c_puct": args.c_puct,
               "fpu_reduction": args.fpu_reduction}
    options = {k: v for k, v in options.items() if v is not None}
    try:
        from engine.search import make_player
    except ImportError as e:
        if args.player != "random":
            raise SystemExit(f"python -m gtp: the {args.player} player is unavailable ({e})")
        from engine.player import RandomPlayer
        return RandomPlayer(seed=args.seed)
    try:
        return make_player(args.player, **_accepted(make_player, options))
    except ValueError as e:  # bad option values, unreadable or mismatched network checkpoint
        raise SystemExit(f"python -m gtp: {e}") from None


def setup_logging(path):
    handler = logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if path else logging.WARNING)


def main(argv=None, stdin=None, stdout=None):
    args = parse_args(argv)
    setup_logging(args.log)
    gtp_in = stdin or sys.stdin
    gtp_out = stdout or sys.stdout
    if stdin is None and hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")
    if stdout is None:
        sys.stdout = sys.stderr  # a stray print must not corrupt the protocol stream
    log.info("starting: %s", " ".join(sys.argv))
    try:
        player = build_player(args)
    except ValueError as e:  # an option the player refuses
        raise SystemExit(f"python -m gtp: {e}") from None
    engine = GtpEngine(player, engine_config(args, player))
    try:
        engine.run(gtp_in, gtp_out)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        log.warning("controller closed the pipe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
