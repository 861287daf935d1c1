"""ZeRO: shard optimizer states, gradients and parameters across data-parallel ranks.

Shows the memory model of "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"
(Rajbhandari, Rasley, Ruwase and He, arXiv 1910.02054). Mixed-precision Adam keeps, for Psi
parameters, fp16 parameters (2 Psi bytes), fp16 gradients (2 Psi) and K Psi bytes of optimizer
state (K = 12: fp32 master weights, momentum and variance). Plain data parallelism replicates all
of it on every rank: (2 + 2 + K) Psi. ZeRO's stages partition it over N_d ranks: P_os shards the
optimizer state (4 Psi + K Psi / N_d), P_os+g also the gradients (2 Psi + (2 + K) Psi / N_d), and
P_os+g+p also the parameters ((2 + 2 + K) Psi / N_d), for the same, or 1.5x, communication.

The demo simulates N_d ranks in one process: each rank is a dict of numpy arrays holding exactly
what that rank would keep between steps, and the collectives (all-reduce, reduce-scatter,
all-gather) are sums and slices that count the elements each rank sends. A small MLP is trained
with plain data parallelism and with the three stages; all four give the same weights, each rank
holds exactly the bytes of the paper's formulas, and a calculator (`--set params=... --set
ranks=...`) prices a real model.

But: no real processes or network, no activation checkpointing or partitioning (ZeRO-R), no
bucketing, overlap or CPU offload; fp16 gradients use a fixed loss scale, not a dynamic one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Partitioning optimizer states, gradients and parameters over N_d ranks cuts "
    "memory per rank to the paper's formulas, with the same training trajectory and "
    "at most 1.5x communication."
)
EQUATIONS = (
    "DP: (2 + 2 + K) Psi;  P_os: 4 Psi + K Psi / N_d;  P_os+g: 2 Psi + (2 + K) Psi / N_d;  P_os+g+p: (2 + 2 + K) Psi / N_d",
    "communication per step: 2 Psi (DP, P_os, P_os+g), 3 Psi (P_os+g+p)",
)


@dataclass
class Config:
    """Settings of the ZeRO demo; `params`, `ranks` and `k` drive the memory calculator."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    params: float = setting(
        7.5e9, "calculator: model size Psi (the paper's example: 7.5B)", low=1.0)
    ranks: int = setting(
        64, "calculator: data-parallel degree N_d (the paper's example: 64)", low=1)
    k: int = setting(
        12, "calculator: optimizer bytes per parameter (mixed-precision Adam: 12)", low=0)
    rank_counts: tuple[int, ...] = setting((2, 4, 8), "simulated N_d", low=2)
    steps: int = setting(20, "Adam steps of the simulated training", low=1)
    d_in: int = setting(64, "MLP input width", low=1)
    hidden: int = setting(192, "MLP hidden width (Psi = 52,624, divisible by 8)", low=1)
    d_out: int = setting(16, "MLP output width", low=1)
    global_batch: int = setting(64, "examples per step, split evenly across the ranks", low=1)
    lr: float = setting(1e-3, "Adam learning rate", above=0.0)
    loss_scale: float = setting(1024.0, "static loss scale for the fp16 gradients", above=0.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        dims = (self.d_in, self.hidden, self.hidden, self.d_out)
        psi = sum(a * b + b for a, b in zip(dims, dims[1:]))  # weights and biases
        return [f"rank_counts: {n} ranks must divide Psi = {psi} and global_batch = "
                f"{self.global_batch}" for n in self.rank_counts
                if psi % n or self.global_batch % n]

# --quick: fewer steps and rank counts. Applied before --set, so --set wins.
QUICK = {"rank_counts": (2, 4), "steps": 8}


STAGES = ("dp", "os", "os+g", "os+g+p")  # plain data parallel, then ZeRO stages 1, 2, 3
FP16, FP32 = np.float16, np.float32


def memory_formula(stage: str, psi: float, n_d: int, k: int = 12) -> float:
    """Bytes per rank, section 5 / Figure 1 of the paper."""
    return {
        "dp": (2 + 2 + k) * psi,
        "os": 2 * psi + 2 * psi + k * psi / n_d,
        "os+g": 2 * psi + (2 + k) * psi / n_d,
        "os+g+p": (2 + 2 + k) * psi / n_d,
    }[stage]


# ---------------------------------------------------------------------------------------------
# The model: an MLP whose parameters live in one flat vector (as ZeRO's flat buffers do)


def layer_shapes(cfg: Config):
    dims = [cfg.d_in, cfg.hidden, cfg.hidden, cfg.d_out]
    shapes = []
    for a, b in zip(dims, dims[1:]):
        shapes += [(a, b), (b,)]
    return shapes


def unflatten(flat: np.ndarray, shapes):
    out, i = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[i : i + size].reshape(shape))
        i += size
    return out


def loss_and_grad(flat: np.ndarray, shapes, x: np.ndarray, y: np.ndarray,
                  dtype=FP32) -> tuple[float, np.ndarray]:
    """MSE of a tanh MLP and its gradient as a flat vector (computed in fp32, or `dtype`)."""
    p = unflatten(flat.astype(dtype), shapes)
    x, y = x.astype(dtype), y.astype(dtype)
    acts = [x]
    for i in range(0, len(p), 2):
        z = acts[-1] @ p[i] + p[i + 1]
        acts.append(np.tanh(z) if i + 2 < len(p) else z)
    err = acts[-1] - y
    loss = float(np.mean(err**2))
    delta = 2 * err / err.size
    grads = [None] * len(p)
    for i in range(len(p) - 2, -1, -2):
        grads[i], grads[i + 1] = acts[i // 2].T @ delta, delta.sum(axis=0)
        if i:
            delta = (delta @ p[i].T) * (1 - acts[i // 2] ** 2)
    return loss, np.concatenate([g.ravel() for g in grads]).astype(dtype)


def gradient_check(rng, flat: np.ndarray, shapes, x: np.ndarray, y: np.ndarray,
                   per_array: int = 12, h: float = 1e-6) -> float:
    """Relative error of the hand-written backprop against central differences, in float64, on
    `per_array` random coordinates of every weight and bias array (all layers are covered)."""
    flat = flat.astype(np.float64)
    _, grad = loss_and_grad(flat, shapes, x, y, np.float64)
    starts = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    coords = np.concatenate([rng.choice(np.arange(a, b), min(per_array, b - a), replace=False)
                             for a, b in zip(starts, starts[1:])])
    numeric = []
    for i in coords:
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        numeric.append((loss_and_grad(up, shapes, x, y, np.float64)[0]
                        - loss_and_grad(down, shapes, x, y, np.float64)[0]) / (2 * h))
    numeric, analytic = np.array(numeric), grad[coords]
    return float(np.linalg.norm(numeric - analytic)
                 / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


# ---------------------------------------------------------------------------------------------
# Simulated collectives. Volume: elements each rank sends, for a ring implementation.


class Network:
    def __init__(self, n_d: int):
        self.n_d, self.sent = n_d, 0.0

    def reduce_scatter(self, full: list[np.ndarray]) -> list[np.ndarray]:
        """Rank r gets shard r of the sum over ranks (summed in fp32, in rank order)."""
        total = sum(f.astype(FP32) for f in full)
        self.sent += total.size * (self.n_d - 1) / self.n_d
        return np.split(total, self.n_d)

    def all_gather(self, shards: list[np.ndarray]) -> np.ndarray:
        """Every rank gets the concatenation of all shards."""
        full = np.concatenate(shards)
        self.sent += full.size * (self.n_d - 1) / self.n_d
        return full

    def all_reduce(self, full: list[np.ndarray]) -> np.ndarray:
        """Every rank gets the sum: a reduce-scatter followed by an all-gather (2 Psi)."""
        return self.all_gather(self.reduce_scatter(full))


def adam(master, m, v, grad, t: int, lr: float):
    """One Adam step in place on fp32 arrays (whole or a shard: it is element-wise)."""
    m *= 0.9
    m += 0.1 * grad
    v *= 0.999
    v += 0.001 * grad * grad
    master -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)


def train(stage: str, n_d: int, init: np.ndarray, shapes, data, cfg: Config):
    """Train with `stage` on n_d simulated ranks; (final fp32 weights, bytes per rank, sent/step)."""
    psi = init.size
    assert psi % n_d == 0, "pad the flat buffer to a multiple of the rank count"
    x, y = data
    shard = psi // n_d
    own = [slice(r * shard, (r + 1) * shard) for r in range(n_d)]
    sharded_os = stage != "dp"
    sharded_g = stage in ("os+g", "os+g+p")
    sharded_p = stage == "os+g+p"
    ranks = []
    for r in range(n_d):
        master = init[own[r]] if sharded_os else init
        ranks.append({
            "param16": (init[own[r]] if sharded_p else init).astype(FP16),  # 2 Psi (or / N_d)
            "grad16": np.zeros(shard if sharded_g else psi, FP16),  # 2 Psi (or / N_d)
            "master32": master.astype(FP32),  # K Psi = 4 + 4 + 4 bytes per parameter
            "m32": np.zeros(master.size, FP32),  # (or / N_d)
            "v32": np.zeros(master.size, FP32),
        })
    net = Network(n_d)
    micro = cfg.global_batch // n_d
    for t in range(1, cfg.steps + 1):
        full_grads = []
        # Stage 3 gathers the parameters for the forward pass and again for the backward pass
        # (the paper's 2 Psi of extra all-gather); both give the same fp16 vector, gathered once here.
        gathered = net.all_gather([q["param16"] for q in ranks]) if sharded_p else None
        for r, rank in enumerate(ranks):
            params = gathered if sharded_p else rank["param16"]
            rows = slice(r * micro, (r + 1) * micro)
            _, grad = loss_and_grad(params, shapes, x[rows], y[rows])
            full_grads.append((grad * cfg.loss_scale).astype(FP16))  # transient, then reduced
        if sharded_p:
            net.sent += psi * (n_d - 1) / n_d  # the backward pass's second all-gather
        # Gradients: averaged over ranks, unscaled, kept in fp16.
        if sharded_g or sharded_os:
            reduced = net.reduce_scatter(full_grads)  # shard r of the sum
            for r, rank in enumerate(ranks):
                if sharded_g:
                    rank["grad16"][:] = (reduced[r] / (n_d * cfg.loss_scale)).astype(FP16)
                else:  # P_os keeps the full gradient buffer; only its own shard is used below
                    rank["grad16"][own[r]] = (reduced[r] / (n_d * cfg.loss_scale)).astype(FP16)
        else:
            total = net.all_reduce(full_grads)
            for rank in ranks:
                rank["grad16"][:] = (total / (n_d * cfg.loss_scale)).astype(FP16)
        # Optimizer step on what each rank owns, then refresh the fp16 parameters.
        for r, rank in enumerate(ranks):
            grad = rank["grad16"] if sharded_g or not sharded_os else rank["grad16"][own[r]]
            adam(rank["master32"], rank["m32"], rank["v32"], grad.astype(FP32), t, cfg.lr)
        if sharded_p:
            for rank in ranks:
                rank["param16"][:] = rank["master32"].astype(FP16)
        elif sharded_os:
            full = net.all_gather([rank["master32"].astype(FP16) for rank in ranks])
            for rank in ranks:
                rank["param16"][:] = full
        else:
            for rank in ranks:
                rank["param16"][:] = rank["master32"].astype(FP16)
    weights = (np.concatenate([rank["master32"] for rank in ranks]) if sharded_os
               else ranks[0]["master32"])
    per_rank = [sum(a.nbytes for a in rank.values()) for rank in ranks]
    return weights, per_rank, net.sent / cfg.steps


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    cfg = config
    rng = np.random.default_rng(cfg.seed)
    rank_counts, steps = cfg.rank_counts, cfg.steps

    shapes = layer_shapes(cfg)
    init = np.concatenate([rng.normal(0, 1 / np.sqrt(s[0]), s).ravel() if len(s) == 2
                           else np.zeros(s) for s in shapes]).astype(FP32)
    psi = init.size
    x = rng.normal(size=(cfg.global_batch, cfg.d_in)).astype(FP32)
    y = np.tanh(x @ rng.normal(size=(cfg.d_in, cfg.d_out)) / np.sqrt(cfg.d_in)).astype(FP32)

    # Every stage shares this model, so a backprop bug would leave all of them equal: check the
    # gradient itself, and that training lowers the loss.
    grad_error = gradient_check(rng, init, shapes, x, y)

    gap, memory_gap, comm = 0.0, 0.0, {}
    bytes_seen = {}
    for i, n_d in enumerate(rank_counts):
        if psi % n_d:
            raise ValueError(f"Psi = {psi} is not divisible by {n_d} ranks")
        reference, dp_bytes, dp_sent = train("dp", n_d, init, shapes, (x, y), cfg)
        for stage in STAGES:
            weights, per_rank, sent = (reference, dp_bytes, dp_sent) if stage == "dp" else train(
                stage, n_d, init, shapes, (x, y), cfg)
            gap = max(gap, float(np.max(np.abs(weights.astype(np.float64) - reference))))
            expected = memory_formula(stage, psi, n_d)
            memory_gap = max(memory_gap, max(abs(b - expected) for b in per_rank))
            comm[(stage, n_d)] = sent / psi
            bytes_seen[(stage, n_d)] = per_rank[0]
        report((i + 1) / len(rank_counts))
    comm_ratio = {s: comm[(s, rank_counts[-1])] / comm[("dp", rank_counts[-1])] for s in STAGES}
    comm_gap = max(abs(comm_ratio[s] - want) for s, want in zip(STAGES, (1.0, 1.0, 1.0, 1.5)))
    loss_start = loss_and_grad(init, shapes, x, y)[0]
    loss_end = loss_and_grad(reference, shapes, x, y)[0]

    gb = {s: memory_formula(s, cfg.params, cfg.ranks, cfg.k) / 1e9 for s in STAGES}
    return Result(
        checks=[
            check("finite-difference check of the MLP's backprop, float64 (relative error)",
                  grad_error, "<=", 1e-6),
            check(f"loss after {steps} steps / first loss (plain DP)", loss_end / loss_start,
                  "<", 0.9),
            check("max |weights - plain DP weights| over stages and rank counts", gap, "<=", 1e-12),
            check("max |bytes per rank - (2+2+K) Psi formula|", memory_gap, "==", 0),
            check("communication / plain DP: |(1, 1, 1, 1.5) - measured| (max)", comm_gap, "<=", 1e-12),
        ],
        metrics={
            "calculator_params": cfg.params,
            "calculator_ranks": cfg.ranks,
            "calculator_k": cfg.k,
            **{f"gb_per_rank_{s}": gb[s] for s in STAGES},
            "stages": "dp, os, os+g, os+g+p",
            "simulated_psi": psi,
            **{f"simulated_bytes_per_rank_n{n}": [bytes_seen[(s, n)] for s in STAGES]
               for n in rank_counts},
            **{f"sent_per_rank_per_step_over_psi_n{n}": [comm[(s, n)] for s in STAGES]
               for n in rank_counts},
            "loss_first_step": loss_start,
            "loss_after_training": loss_end,
            "steps": steps,
        },
        charts=[Chart(f"GB per rank, Psi = {cfg.params:.3g}, N_d = {cfg.ranks}, K = {cfg.k}",
                      "bars", y=[gb[s] for s in STAGES],
                      labels=["baseline DP", "P_os", "P_os+g", "P_os+g+p"])],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
