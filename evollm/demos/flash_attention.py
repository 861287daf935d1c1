"""FlashAttention: exact attention in tiles, with an online softmax, and far less memory traffic.

Standard attention (Algorithm 0) writes the N x N scores S and probabilities P to slow memory
(HBM) and reads them back. FlashAttention (Algorithm 1) never forms them: it streams blocks of
K, V and Q through fast on-chip memory (SRAM, of size M) and keeps, for every query row, a running
maximum m and a running sum l of exponentials, rescaling the partial output whenever the maximum
grows. The result is exact, not an approximation. This demo runs Algorithm 1 (outer loop over
K/V blocks) and the FlashAttention-2 loop order (outer loop over Q blocks, one rescale at the end)
on a simulated two-level memory that counts every element moved between HBM and SRAM, and checks:
the output and logsumexp equal naive attention (causal too); the counted traffic of Algorithm 1
scales as Theorem 2's Theta(N^2 d^2 / M) while the standard algorithm's is Theta(N d + N^2) and
ignores M; the extra HBM memory is O(N) instead of O(N^2).

Paper: Dao, Fu, Ermon, Rudra and Re, "FlashAttention: Fast and Memory-Efficient Exact Attention
with IO-Awareness", arXiv 2205.14135 (loop order from Dao, "FlashAttention-2", arXiv 2307.08691).

But: numpy on a CPU has no SRAM to manage, so nothing here is faster in wall-clock time; the
speed claim is shown only through counted memory traffic. No backward pass, dropout or
block-sparse variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Tiled attention with an online softmax gives exactly standard attention while "
    "moving Theta(N^2 d^2 / M) elements to and from HBM instead of Theta(N d + N^2)."
)
EQUATIONS = (
    "m_new = max(m, rowmax(S_ij)),  l_new = e^(m - m_new) l + e^(m~ - m_new) rowsum(P~_ij)  (Alg. 1, line 11)",
    "O_i <- diag(l_new)^-1 (diag(l) e^(m - m_new) O_i + e^(m~ - m_new) P~_ij V_j)  (line 12)",
    "HBM accesses: Theta(N^2 d^2 M^-1)  (Theorem 2)",
)


@dataclass
class Config:
    """Settings of the FlashAttention demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    n: int = setting(1024, "sequence length N of the exactness checks", low=2, high=4096)
    d: int = setting(64, "head dimension d", low=1)
    sram: int = setting(16384, "on-chip memory M, in elements (64 KiB of float32)", low=64)
    sweep_n: int = setting(
        2048, "traffic sweeps: N = sweep_n/4 .. 2 sweep_n, and the N of the M, d sweeps", low=16,
        high=4096)
    sweep_d: int = setting(
        64, "traffic sweeps: d = sweep_d/2 .. 2 sweep_d, and the d of the N, M sweeps", low=2)
    sweep_sram: int = setting(
        16384, "traffic sweeps: M = sweep_sram/2 .. 4 sweep_sram, and the M otherwise", low=64)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = []
        if self.sram < 16 * self.d:  # blocks of at least 4 rows: tiny blocks take minutes in numpy
            out.append(f"sram: {self.sram} must be at least 16 x d = {16 * self.d}")
        if self.sweep_sram < 32 * self.sweep_d:  # the same for the smallest M of the sweeps
            out.append(f"sweep_sram: {self.sweep_sram} must be at least 32 x sweep_d = "
                       f"{32 * self.sweep_d}")
        return out


# --quick: shorter sequences and smaller sweeps. Applied before --set, so --set wins.
QUICK = {"n": 512, "sweep_n": 1024, "sweep_d": 32, "sweep_sram": 4096}


class TwoLevelMemory:
    """Counts elements moved between HBM (numpy arrays) and SRAM (the blocks computed on)."""

    def __init__(self) -> None:
        self.reads = 0  # elements read from HBM
        self.writes = 0  # elements written to HBM
        self.extra = 0  # elements of HBM allocated beyond the inputs Q, K, V and the output O

    def allocate(self, shape: tuple[int, ...], dtype, extra: bool,
                 fill: float | None = None) -> np.ndarray:
        """A new HBM array; filling it with a value writes every element."""
        array = np.empty(shape, dtype=dtype)
        if fill is not None:
            array.fill(fill)
            self.writes += array.size
        self.extra += array.size if extra else 0
        return array

    def load(self, array: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        block = array[rows].copy()
        self.reads += block.size
        return block

    def store(self, array: np.ndarray, rows: slice, block: np.ndarray) -> None:
        array[rows] = block
        self.writes += block.size

    @property
    def traffic(self) -> int:
        return self.reads + self.writes


def causal_mask(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """True where query row r may see key column c (c <= r)."""
    return cols[None, :] <= rows[:, None]  # (rows, cols)


def standard_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False,
                       memory: TwoLevelMemory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 0: S and P go through HBM. Returns (O, logsumexp of each row of S)."""
    mem = memory or TwoLevelMemory()
    n, d = q.shape
    tau = 1 / math.sqrt(d)  # the softmax scaling, as in Algorithm 2
    s_hbm = mem.allocate((n, n), q.dtype, extra=True)  # (N, N)
    p_hbm = mem.allocate((n, n), q.dtype, extra=True)  # (N, N)
    o_hbm = mem.allocate((n, d), q.dtype, extra=False)  # (N, d)
    # Line 1: load Q, K, compute S = Q K^T, write S to HBM.
    s = tau * mem.load(q) @ mem.load(k).T
    if causal:
        s = np.where(causal_mask(np.arange(n), np.arange(n)), s, -np.inf)
    mem.store(s_hbm, slice(None), s)
    # Line 2: read S, compute P = softmax(S), write P to HBM.
    s = mem.load(s_hbm)
    row_max = s.max(axis=1, keepdims=True)
    e = np.exp(s - row_max)
    row_sum = e.sum(axis=1, keepdims=True)
    mem.store(p_hbm, slice(None), e / row_sum)
    # Line 3: load P and V, compute O = P V, write O to HBM.
    mem.store(o_hbm, slice(None), mem.load(p_hbm) @ mem.load(v))
    return o_hbm, (row_max + np.log(row_sum))[:, 0]


def block_sizes(sram: int, d: int) -> tuple[int, int]:
    """Algorithm 1, line 1: B_c = ceil(M / 4d), B_r = min(ceil(M / 4d), d)."""
    b_c = math.ceil(sram / (4 * d))
    return min(b_c, d), b_c


def flash_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, sram: int, causal: bool = False,
                    memory: TwoLevelMemory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 1 (outer loop over K/V blocks). Returns (O, logsumexp m + log l)."""
    mem = memory or TwoLevelMemory()
    n, d = q.shape
    tau = 1 / math.sqrt(d)
    b_r, b_c = block_sizes(sram, d)  # line 1
    o = mem.allocate((n, d), q.dtype, extra=False, fill=0.0)  # line 2: O = 0, l = 0, m = -inf
    ell = mem.allocate((n,), q.dtype, extra=True, fill=0.0)  # (N,): l of the paper
    m = mem.allocate((n,), q.dtype, extra=True, fill=-np.inf)  # (N,)
    for j0 in range(0, n, b_c):  # line 5: T_c = ceil(N / B_c) blocks of K and V
        cols = slice(j0, min(j0 + b_c, n))
        k_j, v_j = mem.load(k, cols), mem.load(v, cols)  # line 6: (B_c, d) each
        for i0 in range(0, n, b_r):  # line 7: T_r = ceil(N / B_r) blocks of Q
            # With a causal mask, rows before j0 see nothing in this block: skip them.
            start = max(i0, j0) if causal else i0
            if start >= min(i0 + b_r, n):
                continue
            rows = slice(start, min(i0 + b_r, n))
            q_i, o_i = mem.load(q, rows), mem.load(o, rows)  # line 8: (B_r, d) each
            l_i, m_i = mem.load(ell, rows), mem.load(m, rows)  # (B_r,) each
            s_ij = tau * q_i @ k_j.T  # line 9: (B_r, B_c), on chip only
            if causal:
                s_ij = np.where(causal_mask(np.arange(rows.start, rows.stop),
                                            np.arange(cols.start, cols.stop)), s_ij, -np.inf)
            m_tilde = s_ij.max(axis=1)  # line 10: every kept row has an unmasked column
            p_tilde = np.exp(s_ij - m_tilde[:, None])
            l_tilde = p_tilde.sum(axis=1)
            m_new = np.maximum(m_i, m_tilde)  # line 11
            l_new = np.exp(m_i - m_new) * l_i + np.exp(m_tilde - m_new) * l_tilde
            # Line 12: rescale the old partial output and add this block's share.
            o_i = ((l_i * np.exp(m_i - m_new))[:, None] * o_i
                   + np.exp(m_tilde - m_new)[:, None] * (p_tilde @ v_j)) / l_new[:, None]
            mem.store(o, rows, o_i)
            mem.store(ell, rows, l_new)  # line 13
            mem.store(m, rows, m_new)
    return o, m + np.log(ell)


def flash_attention_2(q: np.ndarray, k: np.ndarray, v: np.ndarray, sram: int,
                      causal: bool = False,
                      memory: TwoLevelMemory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FlashAttention-2's order: outer loop over Q blocks, so O_i, l_i, m_i stay on chip and the
    output is divided by l once, at the end. Returns (O, logsumexp)."""
    mem = memory or TwoLevelMemory()
    n, d = q.shape
    tau = 1 / math.sqrt(d)
    b = math.ceil(sram / (4 * d))  # B_r = B_c here
    o = mem.allocate((n, d), q.dtype, extra=False)
    lse = mem.allocate((n,), q.dtype, extra=True)  # kept for the backward pass
    for i0 in range(0, n, b):
        rows = slice(i0, min(i0 + b, n))
        q_i = mem.load(q, rows)  # (B_r, d)
        o_i = np.zeros_like(q_i)  # on chip, unnormalised
        l_i = np.zeros(len(q_i), dtype=q.dtype)
        m_i = np.full(len(q_i), -np.inf, dtype=q.dtype)
        for j0 in range(0, n, b):
            if causal and j0 >= rows.stop:
                break  # every later block is masked out for these rows
            cols = slice(j0, min(j0 + b, n))
            k_j, v_j = mem.load(k, cols), mem.load(v, cols)  # (B_c, d)
            s_ij = tau * q_i @ k_j.T  # (B_r, B_c)
            if causal:
                s_ij = np.where(causal_mask(np.arange(rows.start, rows.stop),
                                            np.arange(cols.start, cols.stop)), s_ij, -np.inf)
            m_new = np.maximum(m_i, s_ij.max(axis=1))  # finite: column 0 came first
            p_ij = np.exp(s_ij - m_new[:, None])
            scale = np.exp(m_i - m_new)
            l_i = scale * l_i + p_ij.sum(axis=1)
            o_i = scale[:, None] * o_i + p_ij @ v_j
            m_i = m_new
        mem.store(o, rows, o_i / l_i[:, None])
        mem.store(lse, rows, m_i + np.log(l_i))
    return o, lse


def loglog_slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def traffic_of(algorithm, rng: np.random.Generator, n: int, d: int, sram: int) -> TwoLevelMemory:
    """Run one algorithm on random float32 inputs and return its memory counters."""
    q, k, v = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    mem = TwoLevelMemory()
    if algorithm is standard_attention:
        algorithm(q, k, v, memory=mem)
    else:
        algorithm(q, k, v, sram, memory=mem)
    return mem


def run(config: Config, progress: Progress | None = None) -> Result:
    rng = np.random.default_rng(config.seed)
    report = progress or no_progress
    n, d, sram = config.n, config.d, config.sram

    # 1. Exactness: both loop orders against Algorithm 0, float32 and float64, causal or not.
    errors: dict[str, float] = {}
    lse_error = 0.0
    for dtype in (np.float32, np.float64):
        q, k, v = (rng.standard_normal((n, d)).astype(dtype) for _ in range(3))
        for causal in (False, True):
            o_ref, lse_ref = standard_attention(q, k, v, causal)
            for name, algorithm in (("alg1", flash_attention), ("fa2", flash_attention_2)):
                o, lse = algorithm(q, k, v, sram, causal)
                assert o.dtype == dtype and lse.dtype == dtype
                key = f"{name}_{np.dtype(dtype).name}"
                errors[key] = max(errors.get(key, 0.0), float(np.max(np.abs(o - o_ref))))
                if dtype == np.float64:
                    lse_error = max(lse_error, float(np.max(np.abs(lse - lse_ref))))
    report(0.2)

    # 2. Counted HBM traffic. Theorem 2 (for d <= M <= N d): Algorithm 1 moves
    #    Theta(N^2 d^2 / M) elements, standard attention Theta(N d + N^2). Sweep one of N, M, d
    #    at a time, with M at most about N d / 4, so that the N d term of reading Q, K, V and
    #    writing O stays small next to the N^2 d^2 / M one (the theorem assumes M <= N d).
    big_n, sd, sm = config.sweep_n, config.sweep_d, config.sweep_sram
    ns = [big_n // 4, big_n // 2, big_n, big_n * 2]
    ms = [sm // 2, sm, sm * 2, sm * 4]
    ds = [sd // 2, sd, sd * 2]
    n_sweep = [traffic_of(flash_attention, rng, x, sd, sm) for x in ns]
    report(0.45)
    m_sweep = [traffic_of(flash_attention, rng, big_n, sd, x) for x in ms]
    report(0.7)
    d_sweep = [traffic_of(flash_attention, rng, big_n, x, sm) for x in ds]
    report(0.9)
    naive_n = [traffic_of(standard_attention, rng, x, sd, sm) for x in ns]
    naive_big = naive_n[2].traffic  # at N = big_n; standard attention does not depend on M
    fa2_m = [traffic_of(flash_attention_2, rng, big_n, sd, x).traffic for x in ms]

    slope_n = loglog_slope(ns, [t.traffic for t in n_sweep])
    slope_m = loglog_slope(ms, [t.traffic for t in m_sweep])
    slope_d = loglog_slope(ds, [t.traffic for t in d_sweep])
    points = ([(x, sd, sm, t) for x, t in zip(ns, n_sweep)]
              + [(big_n, sd, x, t) for x, t in zip(ms, m_sweep)]
              + [(big_n, x, sm, t) for x, t in zip(ds, d_sweep)])
    normalised = [t.traffic / (x * x * dd * dd / mm) for x, dd, mm, t in points]
    naive_normalised = [t.traffic / (x * sd + x * x) for x, t in zip(ns, naive_n)]
    extra_slope = loglog_slope(ns, [t.extra for t in n_sweep])
    naive_extra_slope = loglog_slope(ns, [t.extra for t in naive_n])
    report(1.0)

    b_r, b_c = block_sizes(sram, d)
    checks = [
        check("Algorithm 1 == standard attention, float32 (max abs diff, causal too)",
              errors["alg1_float32"], "<=", 1e-6),
        check("Algorithm 1 == standard attention, float64", errors["alg1_float64"], "<=", 1e-12),
        check("FlashAttention-2 order == standard attention, float32", errors["fa2_float32"],
              "<=", 1e-6),
        check("FlashAttention-2 order == standard attention, float64", errors["fa2_float64"],
              "<=", 1e-12),
        check("logsumexp m + log l == naive logsumexp, float64 (max abs diff)", lse_error,
              "<=", 1e-10),
        check("Algorithm 1 traffic ~ N^2: |log-log slope in N - 2|", abs(slope_n - 2), "<=", 0.1),
        check("Algorithm 1 traffic ~ 1/M: |log-log slope in M + 1|", abs(slope_m + 1), "<=", 0.1),
        check("Algorithm 1 traffic ~ d^2: |log-log slope in d - 2|", abs(slope_d - 2), "<=", 0.1),
        check("Algorithm 1 traffic / (N^2 d^2 / M): max / min over all sweeps",
              max(normalised) / min(normalised), "<=", 1.25),
        check("standard traffic / (N d + N^2): max / min over N",
              max(naive_normalised) / min(naive_normalised), "<=", 1.25),
        check("extra HBM memory of Algorithm 1 is O(N): |log-log slope in N - 1|",
              abs(extra_slope - 1), "<=", 0.01),
    ]
    metrics = {
        "n": n,
        "d": d,
        "sram_elements": sram,
        "block_rows_B_r": b_r,
        "block_cols_B_c": b_c,
        "max_abs_error": {key: float(v) for key, v in errors.items()},
        "logsumexp_max_abs_error": lse_error,
        "traffic_slope_n": slope_n,
        "traffic_slope_m": slope_m,
        "traffic_slope_d": slope_d,
        "traffic_over_n2d2_per_m": [round(v, 3) for v in normalised],
        "standard_traffic_over_nd_plus_n2": [round(v, 3) for v in naive_normalised],
        "extra_memory_slope_n_standard": naive_extra_slope,
        "sweep_n_values": ns,
        "sweep_m_values": ms,
        "sweep_d_values": ds,
        "standard_traffic_at_sweep_n": naive_big,
        "alg1_traffic_by_m": [t.traffic for t in m_sweep],
        "fa2_traffic_by_m": fa2_m,
        "largest_intermediate_standard": n * n,
        "largest_intermediate_tiled": b_r * b_c,
    }
    charts = [
        Chart(f"HBM traffic, millions of elements (N = {big_n}, d = {sd})", "bars",
              labels=["standard"] + [f"Alg. 1, M={x // 1024}K" for x in ms]
              + [f"FA-2, M={x // 1024}K" for x in ms],
              y=[naive_big / 1e6] + [t.traffic / 1e6 for t in m_sweep] + [t / 1e6 for t in fa2_m]),
    ]
    return Result(checks=checks, metrics=metrics, charts=charts)


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
