"""Tensor (intra-layer) model parallelism, and the bubble of pipeline (inter-layer) parallelism.

Megatron-LM splits the MLP's first weight A by columns, so each rank applies GeLU to its own
slice of X A with no communication, and the second weight B by rows, so the ranks' partial
outputs add up to Y B in one all-reduce (Sec. 3, Fig. 3a). Self-attention splits by heads: each
rank holds the query, key and value columns of its heads and the matching rows of the output
projection (Fig. 3b). A layer then costs two all-reduces forward and two backward (Fig. 4, the
conjugate operators f and g). This demo simulates N ranks in one process, checks that the split
layer computes the same output and the same gradients as the whole one (whose backprop is checked
against finite differences), counts the all-reduces, and shows why A is split by columns: split by
rows, GeLU would need a sum first, and skipping it gives a different function.

The other way to split a model, by layers into p pipeline stages, leaves stages idle: GPipe
(Huang et al., arXiv 1811.06965) cuts a batch into m micro-batches, runs all their forward passes
through the stages, then all backward passes, and the idle share of that schedule, the "bubble",
is (p - 1) / (m + p - 1) (Sec. 2.2). Megatron's later paper (Narayanan et al., arXiv 2104.04473,
Sec. 2.2) writes the same bubble as (p - 1) / m of the ideal time. The demo simulates the schedule
slot by slot (each stage runs an operation only once its input has arrived) and counts the idle
slots for several p and m.

Paper: Shoeybi, Patwary, Puri, LeGresley, Casper and Catanzaro, "Megatron-LM: Training
Multi-Billion Parameter Language Models Using Model Parallelism", arXiv 1909.08053.

But: no real processes or interconnect, no sequence parallelism, no vocabulary-parallel embedding,
and no layer norms or dropout inside the simulated layer; the pipeline is a schedule of timed
slots (no communication time, no interleaved or 1F1B schedule), not a run of the layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Splitting the MLP's A by columns and B by rows, and attention by heads, gives exactly the "
    "whole layer's outputs and gradients on every rank count, for two all-reduces forward (and "
    "one per block backward) and 1/N of the weights per rank. A GPipe pipeline of p stages and "
    "m micro-batches idles (p - 1) / (m + p - 1) of its slots."
)
EQUATIONS = (
    "MLP: [Y_1 Y_2] = [GeLU(X A_1) GeLU(X A_2)];  Z = all-reduce(Y_1 B_1 + Y_2 B_2)  (Fig. 3a)",
    "attention: head group i on rank i: Q_i = X W^Q_i, K_i, V_i;  out = all-reduce(sum_i O_i W^O_i)",
    "f: identity forward, all-reduce backward;  g: all-reduce forward, identity backward  (Fig. 4)",
    "GPipe bubble: idle / all slots = (p - 1) / (m + p - 1);  idle / busy = (p - 1) / m",
)


@dataclass
class Config:
    """Settings of the tensor-parallel demo."""

    seed: int = 0
    quick: bool = False  # set by --quick (no effect: the run is already short)
    tokens: int = setting(16, "tokens in the batch", low=1)
    d_model: int = setting(64, "model width", low=2)
    n_heads: int = setting(8, "attention heads (split across ranks)", low=1)
    ffn: int = setting(256, "MLP hidden width (split across ranks)", low=1)
    rank_counts: tuple[int, ...] = setting((1, 2, 4, 8), "tensor-parallel sizes N compared", low=1)
    stages: tuple[int, ...] = setting((1, 2, 4, 8), "p: pipeline stages simulated", low=1, high=64)
    micro_batches: tuple[int, ...] = setting((1, 2, 4, 8, 32), "m: micro-batches per batch simulated",
                                             low=1, high=256)
    backward_cost: int = setting(2, "time slots of a backward pass (a forward takes 1)", low=1, high=8)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = []
        if self.d_model % self.n_heads:
            out.append(f"n_heads: {self.n_heads} does not divide d_model = {self.d_model}")
        for n in self.rank_counts:
            if self.n_heads % n or self.ffn % n:
                out.append(f"rank_counts: {n} must divide n_heads = {self.n_heads} and ffn = {self.ffn}")
        return out


# --quick: nothing to cut (the full run takes well under a second).
QUICK: dict = {}


def gelu(x: np.ndarray) -> np.ndarray:
    """GeLU, tanh form (as in GPT-2 and Megatron)."""
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_grad(x: np.ndarray) -> np.ndarray:
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    t = np.tanh(u)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)


class Collectives:
    """Simulated all-reduce among N ranks: sums the ranks' arrays and counts the calls."""

    def __init__(self) -> None:
        self.all_reduces = 0

    def all_reduce(self, parts: list[np.ndarray]) -> np.ndarray:
        self.all_reduces += 1
        return np.sum(parts, axis=0)


# --- the whole layer -----------------------------------------------------------------------------

def init_layer(rng, c: Config) -> dict[str, np.ndarray]:
    d, f = c.d_model, c.ffn
    return {"wq": rng.normal(0, d**-0.5, (d, d)), "wk": rng.normal(0, d**-0.5, (d, d)),
            "wv": rng.normal(0, d**-0.5, (d, d)), "wo": rng.normal(0, d**-0.5, (d, d)),
            "bo": rng.normal(0, 0.1, d), "a": rng.normal(0, d**-0.5, (d, f)),
            "a_bias": rng.normal(0, 0.1, f), "b": rng.normal(0, f**-0.5, (f, d)),
            "b_bias": rng.normal(0, 0.1, d)}


def attention_heads(x, wq, wk, wv, n_heads: int) -> np.ndarray:
    """Causal attention of the heads whose columns wq, wk, wv hold; (T, heads x d_head)."""
    t, width = x.shape[0], wq.shape[1]
    d_head = width // n_heads
    q, k, v = ((x @ w).reshape(t, n_heads, d_head).transpose(1, 0, 2) for w in (wq, wk, wv))
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(d_head)  # (h, T, T)
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True) @ v).transpose(1, 0, 2).reshape(t, width)


def layer_forward(x, w, n_heads: int) -> np.ndarray:
    """The whole layer: x + attention, then + MLP (no norms). (T, d)"""
    h = x + attention_heads(x, w["wq"], w["wk"], w["wv"], n_heads) @ w["wo"] + w["bo"]
    return h + gelu(h @ w["a"] + w["a_bias"]) @ w["b"] + w["b_bias"]


def mlp_backward(h, w, d_out):
    """Gradients of the MLP z = gelu(h A + a) B + b given dL/dz: (dh, dA, da, dB, db)."""
    pre = h @ w["a"] + w["a_bias"]
    y = gelu(pre)
    d_pre = (d_out @ w["b"].T) * gelu_grad(pre)
    return d_pre @ w["a"].T, h.T @ d_pre, d_pre.sum(axis=0), y.T @ d_out, d_out.sum(axis=0)


# --- the same layer on N ranks -------------------------------------------------------------------

def shard(w, n: int, c: Config) -> list[dict[str, np.ndarray]]:
    """Rank r's weights: A, its bias and the Q, K, V columns split by column (heads), B and W^O
    by row; the output biases live whole on every rank but are added once, after the sum."""
    cols_f, cols_d = np.split(np.arange(c.ffn), n), np.split(np.arange(c.d_model), n)
    return [{"wq": w["wq"][:, cd], "wk": w["wk"][:, cd], "wv": w["wv"][:, cd],
             "wo": w["wo"][cd, :], "bo": w["bo"], "a": w["a"][:, cf], "a_bias": w["a_bias"][cf],
             "b": w["b"][cf, :], "b_bias": w["b_bias"]} for cf, cd in zip(cols_f, cols_d)]


def parallel_forward(x, ranks, n_heads: int, net: Collectives) -> np.ndarray:
    """Every rank runs its heads and its MLP slice; one all-reduce after each block (g)."""
    per_rank = n_heads // len(ranks)
    partial = [attention_heads(x, r["wq"], r["wk"], r["wv"], per_rank) @ r["wo"] for r in ranks]
    h = x + net.all_reduce(partial) + ranks[0]["bo"]  # the bias once, after the sum
    partial = [gelu(h @ r["a"] + r["a_bias"]) @ r["b"] for r in ranks]  # GeLU on local columns
    return h + net.all_reduce(partial) + ranks[0]["b_bias"]


def parallel_mlp_backward(h, ranks, d_out, net: Collectives):
    """Rank-local gradients of the MLP slices, and dL/dh summed over ranks (f's all-reduce)."""
    grads, dh_parts = [], []
    for r in ranks:
        dh, da, da_bias, db, _ = mlp_backward(h, r, d_out)
        grads.append((da, da_bias, db))
        dh_parts.append(dh)
    return grads, net.all_reduce(dh_parts)


# --- a pipeline of p stages (GPipe) ---------------------------------------------------------------

def gpipe_order(m: int) -> list[tuple[str, int]]:
    """What one stage runs, in order: every micro-batch forward, then every one backward (last
    first), then the flush (the optimizer step waits for all of them)."""
    return [("F", j) for j in range(m)] + [("B", j) for j in reversed(range(m))]


def needs(op: tuple[str, int], stage: int, p: int) -> tuple[str, int, int] | None:
    """The operation whose output op consumes: the previous stage's forward of the same
    micro-batch, or the next stage's backward (on the last stage, its own forward)."""
    kind, j = op
    if kind == "F":
        return ("F", j, stage - 1) if stage > 0 else None
    return ("B", j, stage + 1) if stage < p - 1 else ("F", j, stage)


def simulate_pipeline(p: int, m: int, backward_cost: int) -> np.ndarray:
    """Run the GPipe schedule slot by slot: at each time slot, each free stage starts its next
    operation if what it needs has finished. Returns the (p, T) busy grid up to the last slot."""
    cost = {"F": 1, "B": backward_cost}
    queues = [gpipe_order(m) for _ in range(p)]
    done: dict[tuple[str, int, int], int] = {}  # (kind, micro-batch, stage) -> end slot
    free_at = [0] * p
    horizon = 2 * (m + p) * (1 + backward_cost)  # twice the time the schedule can need
    busy = np.zeros((p, horizon), dtype=bool)
    t = 0
    while any(queues) and t < horizon:  # a stuck schedule stops here, its work undone
        for stage in range(p):
            if not queues[stage] or free_at[stage] > t:
                continue
            kind, j = queues[stage][0]
            dep = needs((kind, j), stage, p)
            if dep is not None and done.get(dep, t + 1) > t:
                continue  # its input has not arrived yet: idle
            queues[stage].pop(0)
            end = t + cost[kind]
            busy[stage, t:end] = True
            done[(kind, j, stage)] = free_at[stage] = end
        t += 1
    return busy[:, : max(done.values(), default=0)]


def bubble_formula(p: int, m: int) -> float:
    """GPipe's bubble: the idle share of all slots, (p - 1) / (m + p - 1)."""
    return (p - 1) / (m + p - 1)


def gradient_check(rng, h, w, h_step: float = 1e-6) -> float:
    """The whole MLP's hand-written backprop against central differences of L = sum(z * g)."""
    g = rng.normal(size=(h.shape[0], w["b"].shape[1]))

    def loss():
        return float(np.sum((gelu(h @ w["a"] + w["a_bias"]) @ w["b"] + w["b_bias"]) * g))

    _, da, da_bias, db, db_bias = mlp_backward(h, w, g)
    numeric, analytic = [], []
    for name, grad in (("a", da), ("a_bias", da_bias), ("b", db), ("b_bias", db_bias)):
        arr = w[name]
        for flat in rng.choice(arr.size, min(15, arr.size), replace=False):
            idx = np.unravel_index(flat, arr.shape)
            saved = arr[idx]
            arr[idx] = saved + h_step
            up = loss()
            arr[idx] = saved - h_step
            down = loss()
            arr[idx] = saved
            numeric.append((up - down) / (2 * h_step))
            analytic.append(grad[idx])
    numeric, analytic = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric - analytic) / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    c = config
    rng = np.random.default_rng(c.seed)
    w = init_layer(rng, c)
    x = rng.normal(size=(c.tokens, c.d_model))
    whole = layer_forward(x, w, c.n_heads)
    h = x + attention_heads(x, w["wq"], w["wk"], w["wv"], c.n_heads) @ w["wo"] + w["bo"]
    d_out = rng.normal(size=whole.shape)  # dL/dz from the layer above
    dh_whole, da, da_bias, db, _ = mlp_backward(h, w, d_out)
    grad_error = gradient_check(rng, h, w)

    out_gap, grad_gap, reduces, weight_share = 0.0, 0.0, {}, {}
    sharded_names = ("wq", "wk", "wv", "wo", "a", "a_bias", "b")
    for i, n in enumerate(c.rank_counts):
        ranks = shard(w, n, c)
        net = Collectives()
        out_gap = max(out_gap, float(np.max(np.abs(parallel_forward(x, ranks, c.n_heads, net) - whole))))
        forward_reduces = net.all_reduces
        grads, dh = parallel_mlp_backward(h, ranks, d_out, net)
        cols = np.split(np.arange(c.ffn), n)
        for (ga, ga_bias, gb), cf in zip(grads, cols):  # each rank's gradient is its slice
            grad_gap = max(grad_gap, float(np.max(np.abs(ga - da[:, cf]))),
                           float(np.max(np.abs(ga_bias - da_bias[cf]))),
                           float(np.max(np.abs(gb - db[cf, :]))))
        grad_gap = max(grad_gap, float(np.max(np.abs(dh - dh_whole))))
        reduces[n] = (forward_reduces, net.all_reduces - forward_reduces)
        weight_share[n] = (sum(ranks[0][k].size for k in sharded_names)
                           / sum(w[k].size for k in sharded_names))
        report((i + 1) / (len(c.rank_counts) + 1))

    # Why A is split by columns: split by rows, each rank holds a partial sum of X A, and GeLU of
    # the parts is not GeLU of the sum; skipping the all-reduce that would fix it is wrong.
    n = max(c.rank_counts)
    rows = np.split(np.arange(c.d_model), n)
    pre_parts = [h[:, r] @ w["a"][r, :] for r in rows]
    row_split = sum(gelu(p + w["a_bias"] / n) for p in pre_parts)
    row_split_gap = float(np.max(np.abs(row_split - gelu(h @ w["a"] + w["a_bias"]))))

    # Pipeline parallelism: simulate GPipe's schedule and count the idle slots.
    bubble, bubble_gap, idle_gap, busy_gap = {}, 0.0, 0.0, 0
    for p in c.stages:
        for m in c.micro_batches:
            grid = simulate_pipeline(p, m, c.backward_cost)
            idle = int(grid.size - grid.sum())
            bubble[(p, m)] = idle / grid.size
            bubble_gap = max(bubble_gap, abs(bubble[(p, m)] - bubble_formula(p, m)))
            idle_gap = max(idle_gap, abs(idle / grid.sum() - (p - 1) / m))
            # every stage does exactly its m forwards and m backwards, no more and no less
            busy_gap = max(busy_gap, int(np.max(np.abs(grid.sum(axis=1) - m * (1 + c.backward_cost)))))
    report(1.0)

    checks = [
        check("whole MLP backprop vs finite differences (relative error)", grad_error, "<=", 1e-6),
        check(f"split layer == whole layer, N in {list(c.rank_counts)} (max abs diff)", out_gap,
              "<=", 1e-12),
        check("each rank's gradients == its slice of the whole gradients, and dL/dx (max abs)",
              grad_gap, "<=", 1e-12),
        check("all-reduces: layer forward, MLP backward == (2, 1) (rank counts that differ)",
              sum(reduces[k] != (2, 1) for k in c.rank_counts), "==", 0),
        check("sharded weights per rank x N / whole (max |x - 1|)",
              max(abs(weight_share[k] * k - 1) for k in c.rank_counts), "<=", 1e-12),
        check(f"A split by rows, GeLU before the sum, N = {n}: max abs error (must be large)",
              row_split_gap, ">", 1e-3),
        check("simulated GPipe: each stage busy m (1 + backward cost) slots (max abs diff)",
              busy_gap, "==", 0),
        check(f"simulated GPipe: idle share == (p - 1) / (m + p - 1), p in {list(c.stages)}, m in "
              f"{list(c.micro_batches)} (max abs diff)", bubble_gap, "<=", 1e-12),
        check("simulated GPipe: idle / busy slots == (p - 1) / m (Megatron's form, max abs diff)",
              idle_gap, "<=", 1e-12),
    ]
    return Result(
        checks=checks,
        metrics={
            "rank_counts": list(c.rank_counts),
            "all_reduces_layer_forward_mlp_backward": {str(k): list(v) for k, v in reduces.items()},
            "sharded_weight_share_per_rank": {str(k): v for k, v in weight_share.items()},
            "row_split_without_sync_error": row_split_gap,
            "gpipe_bubble_share": {f"p={p} m={m}": round(v, 4) for (p, m), v in bubble.items()},
        },
        charts=[Chart("share of the sharded weights held by one rank", "bars",
                      labels=[f"N = {k}" for k in c.rank_counts],
                      y=[float(weight_share[k]) for k in c.rank_counts]),
                Chart(f"GPipe bubble (idle share) over m, p = {max(c.stages)} stages", "line",
                      x=[float(m) for m in c.micro_batches],
                      y=[float(bubble[(max(c.stages), m)]) for m in c.micro_batches])],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
