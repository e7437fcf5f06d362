"""Training the rollout and tree policies (``engine.rollout_policy``) from game records.

Pipeline::

    counts = harvest(games, tree)                  # pattern occurrences, canonical keys
    model = RolloutModel(dictionaries(counts, K), tree=tree)   # weights 0
    model, report = train(model, games, heldout, TrainConfig(...))
    save_rollout_model(model, "rollout.npz")

Data
----
Functions take any object holding the shard arrays of ``nets.sgf_data`` (``load_shards(dir)``
gives one; ``GameArrays`` is a plain holder, ``games_from_states`` builds one from
``engine.game.GameState`` objects)::

    size           int N
    komi           float32[G]
    winner         int8[G]     1 black, 2 white, 0 unknown
    offsets        int64[G+1]  moves of game g are rows offsets[g]:offsets[g+1]
    moves          int16[M]    padded points (engine.board layout), PASS = -1
    colors         int8[M]     colour of each move
    setup_offsets  int64[G+1]  setup stones of game g: setup_offsets[g]:setup_offsets[g+1]
    setup_points   int16[S]
    setup_colors   int8[S]

Every move of every game is one training position: the board before the move, the mover to
play (so records with two moves of one colour in a row are read as written). Passes are
positions too: pass is a candidate with its own weight, so the tree policy can give it a
prior (the SL data of ``nets.sgf_data`` leaves passes out; these policies do not). A game whose
setup stones or moves the fast board refuses is dropped from that move on, and counted.

Harvest
-------
Every legal candidate move of every position contributes its patterns (3x3, response when it
lies in the previous move's diamond, nakade when it lies in a small eye space, and with
``tree`` the diamond around the move), so the dictionaries hold the shapes that occur, played
or not: the softmax then learns which shapes are not played too. A pattern enters its
dictionary when it occurred at least ``min_count`` times (canonical form: the 8 symmetries and
colours relative to the player are one pattern).

Training
--------
Softmax cross-entropy over the candidates of each position (every legal point and pass), with
Adam in NumPy on the weight vector (``RolloutModel.weight_vector``). The features of a chunk
of games are extracted by the same jitted code the engine plays with
(``engine.rollout_policy.position_features``), so the trained model and
``rollout_probs`` / ``tree_priors`` agree exactly. Chunks are cached in memory up to
``cache_mb``; beyond that they are extracted again each epoch. Each epoch ends with the
held-out loss and top-1 accuracy (AlphaGo's paper: 24.2% for the rollout policy, about 34%
for the tree policy, on 19x19 KGS games).

Command line::

    python -m nets.rollout_train DATA_DIR --out rollout.npz [--min-count K] [--epochs E] [--tree]

reads ``DATA_DIR/train`` and ``DATA_DIR/heldout`` (shard-*.npz, ``nets.sgf_data.split_folder``),
prints the dictionary sizes, progress and the accuracy report, and writes the model file. An
empty heldout/ (a small collection) trains without the held-out report.
"""
import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from engine.config import check, not_negative
from engine.rollout_policy import (GROUPS, MAX_FEATURES, RolloutModel, canonical_pat3_table,
                                   extract_chunk, harvest_chunk)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of ``train`` (and of ``fit_model``'s harvest)."""
    min_count: int = 5  # a pattern enters its dictionary after this many occurrences
    epochs: int = 3  # passes over the training games
    lr: float = 0.01  # Adam step size
    beta1: float = 0.9  # Adam first-moment decay
    beta2: float = 0.999  # Adam second-moment decay
    l2: float = 1e-5  # L2 penalty on the weights (per position)
    batch_positions: int = 256  # positions per Adam step
    chunk_games: int = 0  # games per extraction chunk; 0 = about 2M candidate moves per chunk
    cache_mb: int = 2000  # extracted chunks kept in memory up to this size
    seed: int = 0  # shuffling of chunks and positions
    log_every_s: float = 10.0  # seconds between progress lines

    def __post_init__(self):
        check(type(self).__name__, [
            (self.min_count >= 1, "min_count must be at least 1"),
            (self.lr > 0, "lr must be positive"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "Adam betas must be in [0, 1)"),
            (self.batch_positions >= 1, "batch_positions must be at least 1"),
            *not_negative(self, "epochs", "l2", "chunk_games", "cache_mb"),
        ])


@dataclass
class GameArrays:
    """A collection of games as the shard arrays (see the module docstring)."""
    size: int  # board size N
    komi: np.ndarray  # float32[G]
    winner: np.ndarray  # int8[G]: 1 black, 2 white, 0 unknown
    offsets: np.ndarray  # int64[G+1]: moves of game g are offsets[g]:offsets[g+1]
    moves: np.ndarray  # int16[M]: padded points, PASS = -1
    colors: np.ndarray  # int8[M]
    setup_offsets: np.ndarray  # int64[G+1]
    setup_points: np.ndarray  # int16[S]
    setup_colors: np.ndarray  # int8[S]


def games_from_states(states):
    """GameArrays from finished or unfinished ``GameState`` objects of one board size: their
    stones before the first move as setup, their move history, komi, and the Tromp-Taylor
    winner of the final position as the result."""
    if not states:
        raise ValueError("no games")
    n = states[0].size
    moves, colors, offsets = [], [], [0]
    spts, scol, soff = [], [], [0]
    komi, winner = [], []
    for g in states:
        if g.size != n:
            raise ValueError(f"games of sizes {n} and {g.size} in one collection")
        init = g.initial_board()[0]
        for c in (1, 2):
            pts = np.nonzero(init == c)[0]
            spts.extend(pts.tolist())
            scol.extend([c] * len(pts))
        soff.append(len(spts))
        for mv in g.history:
            moves.append(mv.point)
            colors.append(mv.color)
        offsets.append(len(moves))
        komi.append(g.komi)
        s = g.score()
        winner.append(1 if s > 0 else 2 if s < 0 else 0)
    return GameArrays(n, np.array(komi, np.float32), np.array(winner, np.int8),
                      np.array(offsets, np.int64), np.array(moves, np.int16),
                      np.array(colors, np.int8), np.array(soff, np.int64),
                      np.array(spts, np.int16), np.array(scol, np.int8))


def _arrays(games):
    """The shard arrays of ``games``, checked and typed; ValueError says what is wrong."""
    try:
        n = int(games.size)
        a = {k: np.asarray(getattr(games, k)) for k in
             ("offsets", "moves", "colors", "setup_offsets", "setup_points", "setup_colors")}
    except AttributeError as e:
        raise ValueError(f"game collection lacks an array: {e}") from None
    if not 2 <= n <= 19:
        raise ValueError(f"board size must be 2..19, got {n}")
    off, soff = a["offsets"], a["setup_offsets"]
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or np.any(np.diff(off) < 0):
        raise ValueError("offsets must start at 0 and never decrease")
    if len(soff) != len(off) or soff[0] != 0 or np.any(np.diff(soff) < 0):
        raise ValueError("setup_offsets must match offsets in length, start at 0, never decrease")
    if len(a["moves"]) != off[-1] or len(a["colors"]) != off[-1]:
        raise ValueError(f"moves and colors must have offsets[-1] = {off[-1]} rows")
    if len(a["setup_points"]) != soff[-1] or len(a["setup_colors"]) != soff[-1]:
        raise ValueError(f"setup arrays must have setup_offsets[-1] = {soff[-1]} rows")
    ww = (n + 2) ** 2
    mv = a["moves"].astype(np.int64)
    if np.any((mv < -1) | (mv >= ww)):
        raise ValueError("a move lies outside the padded board")
    for k in ("colors", "setup_colors"):
        if np.any((a[k] != 1) & (a[k] != 2)):
            raise ValueError(f"{k} must hold 1 (black) or 2 (white)")
    return (n, off.astype(np.int64), mv, a["colors"].astype(np.int64),
            soff.astype(np.int64), a["setup_points"].astype(np.int64),
            a["setup_colors"].astype(np.int64))


# ---------------------------------------------------------------------------------------
# Harvest and dictionaries

def _chunks(offsets, n, chunk_games):
    """Game ranges of about 2M candidates each (or chunk_games games)."""
    g = len(offsets) - 1
    if chunk_games:
        return [(a, min(a + chunk_games, g)) for a in range(0, g, chunk_games)]
    per = max(1, 2_000_000 // (n * n + 1))  # positions per chunk
    out = []
    a = 0
    while a < g:
        b = a + 1
        while b < g and offsets[b + 1] - offsets[a] <= per:
            b += 1
        out.append((a, b))
        a = b
    return out


def _merge_counts(acc, keys):
    """acc (keys, counts) plus the occurrences listed in keys."""
    k, c = np.unique(keys, return_counts=True)
    if acc is None:
        return k, c.astype(np.int64)
    allk = np.concatenate([acc[0], k])
    allc = np.concatenate([acc[1], c])
    uk, inv = np.unique(allk, return_inverse=True)
    return uk, np.bincount(inv, weights=allc, minlength=len(uk)).astype(np.int64)


def harvest(games, tree=False, chunk_games=0, log=None):
    """Pattern occurrences over every legal candidate of every position: {group: (sorted
    canonical keys, counts)}, plus "positions" and "dropped_games" counts."""
    n, off, mv, col, soff, spts, scol = _arrays(games)
    canon3 = canonical_pat3_table()
    pat3 = np.zeros(len(canon3), dtype=np.int64)
    acc = {g: None for g in GROUPS[1:]}
    stats = np.zeros(2, dtype=np.int64)
    t0 = time.time()
    last = t0
    chunks = _chunks(off, n, chunk_games)
    for ci, (g0, g1) in enumerate(chunks):
        npos = int(off[g1] - off[g0])
        cap = max(1, npos * n * n)
        resp = np.empty(max(1, npos * 12), dtype=np.int64)
        nak = np.empty(cap, dtype=np.int64)
        dia = np.empty(cap if tree else 1, dtype=np.int64)
        nr, nk, nd = harvest_chunk(n, off, mv, col, soff, spts, scol, g0, g1, tree, canon3,
                                    pat3, resp, nak, dia, stats)
        for g, arr, k in (("response", resp, nr), ("nakade", nak, nk), ("diamond", dia, nd)):
            if k:
                acc[g] = _merge_counts(acc[g], arr[:k])
        if log is not None and (time.time() - last > 10 or ci == len(chunks) - 1):
            last = time.time()
            log(f"harvest: games {g1}/{len(off) - 1}, positions {stats[0]:,}, "
                f"{time.time() - t0:.0f} s")
    out = {"pat3": (np.nonzero(pat3)[0].astype(np.int64), pat3[pat3 > 0])}
    for g in GROUPS[1:]:
        out[g] = acc[g] if acc[g] is not None else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    out["positions"] = int(stats[0])
    out["dropped_games"] = int(stats[1])
    return out


def dictionaries(counts, min_count, tree=False):
    """Sorted canonical keys seen at least ``min_count`` times, per group (the diamond group
    only with ``tree``)."""
    keys = {}
    for g in GROUPS:
        if g == "diamond" and not tree:
            keys[g] = np.zeros(0, np.int64)
            continue
        k, c = counts[g]
        keys[g] = np.sort(np.asarray(k, np.int64)[np.asarray(c) >= min_count])
    return keys


# ---------------------------------------------------------------------------------------
# Extraction and the softmax

class Chunk:
    """Extracted positions of a range of games (CSR arrays, see ``_extract_chunk``)."""

    def __init__(self, pos_cptr, labels, acts, fptr, feats):
        self.pos_cptr = pos_cptr  # int64[P+1]: candidates of each position
        self.labels = labels  # int64[P]: played candidate, index within its position
        self.acts = acts  # int64[C]: action of each candidate (row * N + col, N*N = pass)
        self.fptr = fptr  # int64[C+1]: features of each candidate
        self.feats = feats  # int64[F]: weight indices
        self.positions = len(labels)

    def nbytes(self):
        return sum(a.nbytes for a in (self.pos_cptr, self.labels, self.acts, self.fptr,
                                      self.feats))


def extract(games, model, g0=0, g1=None):
    """Chunk of games g0..g1-1 with the features of ``model`` (tree features if it has them).
    Also returns the number of games dropped."""
    n, off, mv, col, soff, spts, scol = _arrays(games)
    g1 = len(off) - 1 if g1 is None else g1
    npos = int(off[g1] - off[g0])
    ncand = npos * (n * n + 1)
    pos_cptr = np.zeros(npos + 1, dtype=np.int64)
    labels = np.zeros(max(npos, 1), dtype=np.int64)
    acts = np.empty(ncand + 1, dtype=np.int64)
    fptr = np.zeros(ncand + 2, dtype=np.int64)
    feats = np.empty(ncand * MAX_FEATURES + 1, dtype=np.int64)
    stats = np.zeros(2, dtype=np.int64)
    p = extract_chunk(n, off, mv, col, soff, spts, scol, g0, g1, model.arrays, model.tree,
                       pos_cptr, labels, acts, fptr, feats, stats)
    c = int(pos_cptr[p])
    f = int(fptr[c])
    return Chunk(pos_cptr[:p + 1].copy(), labels[:p].copy(), acts[:c].copy(),
                 fptr[:c + 1].copy(), feats[:f].copy()), int(stats[1])


def _ranges(starts, counts):
    """Concatenation of arange(s, s + k) for each (s, k)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - counts - starts, counts)


def _select(chunk, sel):
    """The positions ``sel`` of a chunk as flat arrays: (features, candidate of each feature,
    first candidate of each position, index of the label candidate, candidate count)."""
    cs = chunk.pos_cptr[sel]
    ck = chunk.pos_cptr[sel + 1] - cs
    cand = _ranges(cs, ck)
    fs = chunk.fptr[cand]
    fk = chunk.fptr[cand + 1] - fs
    feats = chunk.feats[_ranges(fs, fk)]
    cand_of_feat = np.repeat(np.arange(len(cand), dtype=np.int64), fk)
    seg = np.concatenate([[0], np.cumsum(ck)[:-1]]).astype(np.int64)
    return feats, cand_of_feat, seg, seg + chunk.labels[sel], len(cand)


def _softmax_parts(w, feats, cand_of_feat, seg, ncand):
    logits = np.bincount(cand_of_feat, weights=w[feats], minlength=ncand)
    mx = np.maximum.reduceat(logits, seg)
    counts = np.diff(np.append(seg, ncand))
    pos = np.repeat(np.arange(len(seg)), counts)
    e = np.exp(logits - mx[pos])
    z = np.add.reduceat(e, seg)
    return logits, mx, z, e, pos


def loss_and_grad(w, chunk, sel, l2=0.0):
    """Mean softmax cross-entropy over positions ``sel`` of a chunk and its gradient with
    respect to the weight vector w (plus ``l2`` / 2 * |w|^2)."""
    feats, cof, seg, lab, ncand = _select(chunk, sel)
    logits, mx, z, e, pos = _softmax_parts(w, feats, cof, seg, ncand)
    k = len(sel)
    loss = float(np.mean(np.log(z) + mx - logits[lab])) + 0.5 * l2 * float(w @ w)
    g = e / z[pos]
    g[lab] -= 1.0
    grad = np.bincount(feats, weights=g[cof] / k, minlength=len(w)) + l2 * w
    return loss, grad


def chunk_probs(w, chunk):
    """Softmax of weight vector w over the candidates of every position of a chunk
    (float64[C], in the chunk's candidate order)."""
    sel = np.arange(chunk.positions)
    feats, cof, seg, lab, ncand = _select(chunk, sel)
    logits, mx, z, e, pos = _softmax_parts(w, feats, cof, seg, ncand)
    return e / z[pos]


def evaluate(w, chunk):
    """(summed cross-entropy, top-1 hits, positions) of weight vector w on a chunk."""
    if chunk.positions == 0:
        return 0.0, 0, 0
    sel = np.arange(chunk.positions)
    feats, cof, seg, lab, ncand = _select(chunk, sel)
    logits, mx, z, e, pos = _softmax_parts(w, feats, cof, seg, ncand)
    ce = float(np.sum(np.log(z) + mx - logits[lab]))
    is_max = logits >= mx[pos]
    first = np.minimum.reduceat(np.where(is_max, np.arange(ncand), ncand), seg)
    return ce, int(np.sum(first == lab)), chunk.positions


def accuracy(model, games, chunk_games=0):
    """Held-out report of a model on games: {"positions", "loss", "top1"}."""
    w = model.weight_vector()
    n, off, *_ = _arrays(games)
    ce = 0.0
    hits = 0
    total = 0
    for g0, g1 in _chunks(off, n, chunk_games):
        ch, _ = extract(games, model, g0, g1)
        a, b, c = evaluate(w, ch)
        ce += a
        hits += b
        total += c
    return {"positions": total, "loss": ce / max(total, 1), "top1": hits / max(total, 1)}


# ---------------------------------------------------------------------------------------
# Training

def train(model, games, heldout=None, config=None, log=print):
    """Fit the weights of ``model`` (its dictionaries fixed) on ``games`` with Adam; returns
    (trained model, report dict with per-epoch history)."""
    cfg = config or TrainConfig()
    n, off, *_ = _arrays(games)
    rng = np.random.default_rng(cfg.seed)
    w = model.weight_vector()
    m1 = np.zeros_like(w)
    m2 = np.zeros_like(w)
    step = 0
    chunks = _chunks(off, n, cfg.chunk_games)
    cache = {}
    cached_bytes = 0
    history = []
    t0 = time.time()
    last_log = t0
    for epoch in range(cfg.epochs):
        loss_sum = 0.0
        loss_n = 0
        for ci in rng.permutation(len(chunks)):
            if ci in cache:
                ch = cache[ci]
            else:
                ch, _ = extract(games, model, *chunks[ci])
                if cached_bytes + ch.nbytes() <= cfg.cache_mb * 2**20:
                    cache[ci] = ch
                    cached_bytes += ch.nbytes()
            order = rng.permutation(ch.positions)
            for a in range(0, ch.positions, cfg.batch_positions):
                sel = order[a:a + cfg.batch_positions]
                loss, grad = loss_and_grad(w, ch, sel, cfg.l2)
                step += 1
                m1 = cfg.beta1 * m1 + (1 - cfg.beta1) * grad
                m2 = cfg.beta2 * m2 + (1 - cfg.beta2) * grad * grad
                mh = m1 / (1 - cfg.beta1 ** step)
                vh = m2 / (1 - cfg.beta2 ** step)
                w -= cfg.lr * mh / (np.sqrt(vh) + 1e-8)
                np.clip(w, -20.0, 20.0, out=w)
                loss_sum += loss * len(sel)
                loss_n += len(sel)
                if log is not None and time.time() - last_log > cfg.log_every_s:
                    last_log = time.time()
                    log(f"epoch {epoch + 1}/{cfg.epochs}: step {step}, "
                        f"train loss {loss_sum / max(loss_n, 1):.4f}, {time.time() - t0:.0f} s")
        entry = {"epoch": epoch + 1, "train_loss": loss_sum / max(loss_n, 1), "steps": step}
        if heldout is not None:
            rep = accuracy(model.with_weights(w), heldout, cfg.chunk_games)
            entry.update(heldout_loss=rep["loss"], heldout_top1=rep["top1"],
                         heldout_positions=rep["positions"])
        history.append(entry)
        if log is not None:
            msg = f"epoch {epoch + 1}/{cfg.epochs}: train loss {entry['train_loss']:.4f}"
            if heldout is not None:
                msg += (f", held-out loss {entry['heldout_loss']:.4f}, top-1 "
                        f"{entry['heldout_top1']:.1%} of {entry['heldout_positions']:,}")
            log(msg + f", {time.time() - t0:.0f} s")
    info = dict(model.info)
    info.update(train_config=asdict(cfg), history=history, steps=step)
    return model.with_weights(w, info=info), {"history": history, "steps": step}


def fit_model(games, heldout=None, tree=False, config=None, log=print):
    """Harvest the dictionaries from ``games`` and train a model on them; returns (model,
    report)."""
    cfg = config or TrainConfig()
    counts = harvest(games, tree, cfg.chunk_games, log)
    keys = dictionaries(counts, cfg.min_count, tree)
    info = {"min_count": cfg.min_count, "positions": counts["positions"],
            "dropped_games": counts["dropped_games"], "board_size": int(games.size)}
    model = RolloutModel(keys, tree=tree, info=info)
    if log is not None:
        log(f"{counts['positions']:,} positions, {counts['dropped_games']} games dropped; "
            + model.describe())
    return train(model, games, heldout, cfg, log)


# ---------------------------------------------------------------------------------------
# A small deterministic model for tests and benchmarks

def scripted_games(n=9, count=16, seed=0, max_moves=None):
    """``count`` games on n x n played by ``engine.playout``'s heuristic playout policy
    (captures, atari escapes, good 3x3 shapes) from a fixed seed: deterministic data."""
    from engine.board import copy_board
    from engine.game import GameState
    from engine.playout import choose_heuristic
    from engine.rng import new_rng
    rng = new_rng(seed)
    limit = max_moves or 2 * n * n
    states = []
    for _ in range(count):
        g = GameState(n, komi=7.0, ko_rule="simple")
        while not g.is_over() and len(g.history) < limit:
            c = g.to_move
            p = int(choose_heuristic(copy_board(g.board), c, rng))
            g.play(c, p)
        states.append(g)
    return games_from_states(states)


def tiny_model(tree=False, seed=0):
    """A small model fitted to ``scripted_games`` (9x9, min_count 2, 3 epochs): deterministic,
    for tests and benchmarks; not a strong policy."""
    games = scripted_games(9, 16, seed)
    cfg = TrainConfig(min_count=2, epochs=3, lr=0.05, batch_positions=64, seed=seed)
    model, _ = fit_model(games, None, tree, cfg, log=None)
    return model


# ---------------------------------------------------------------------------------------
# Command line

def main(argv=None):
    ap = argparse.ArgumentParser(description="Train AlphaGo's rollout (or tree) policy on "
                                 "game records: DATA_DIR/train and DATA_DIR/heldout shards.")
    ap.add_argument("data_dir", help="directory with train/ and heldout/ shard-*.npz")
    ap.add_argument("--out", required=True, help="model file to write (.npz)")
    ap.add_argument("--min-count", type=int, default=TrainConfig.min_count,
                    help="occurrences a pattern needs to enter a dictionary")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="passes over the data")
    ap.add_argument("--tree", action="store_true", help="train the tree policy (more features)")
    ap.add_argument("--lr", type=float, default=TrainConfig.lr, help="Adam step size")
    ap.add_argument("--batch", type=int, default=TrainConfig.batch_positions,
                    help="positions per step")
    ap.add_argument("--seed", type=int, default=0, help="shuffling seed")
    args = ap.parse_args(argv)
    from nets.sgf_data import ShardError, load_shards, split_folder  # only needed here
    try:
        cfg = TrainConfig(min_count=args.min_count, epochs=args.epochs, lr=args.lr,
                          batch_positions=args.batch, seed=args.seed)
    except ValueError as e:
        ap.error(str(e))
    try:
        train_paths, heldout_paths = split_folder(args.data_dir)
        tr = load_shards(train_paths)
        ho = load_shards(heldout_paths) if heldout_paths else None
    except ShardError as e:
        raise SystemExit(str(e)) from None
    if ho is not None and int(tr.size) != int(ho.size):
        ap.error(f"train games are {tr.size}x{tr.size}, held-out games {ho.size}x{ho.size}")
    held = f"{len(ho.offsets) - 1:,} games" if ho is not None else "none"
    print(f"train: {len(tr.offsets) - 1:,} games; held-out: {held}; {tr.size}x{tr.size}",
          flush=True)
    if ho is None:
        print(f"note: {args.data_dir} has no held-out data: training without held-out "
              f"evaluation", flush=True)

    def log(msg):
        print(msg, flush=True)

    model, report = fit_model(tr, ho, args.tree, cfg, log)
    if cfg.epochs == 0 and ho is not None:
        rep = accuracy(model, ho)
        log(f"held-out loss {rep['loss']:.4f}, top-1 {rep['top1']:.1%} of {rep['positions']:,}")
    from engine.rollout_policy import save_rollout_model
    save_rollout_model(model, args.out)
    print(json.dumps({"out": args.out, "model": model.describe(),
                      "history": report["history"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
