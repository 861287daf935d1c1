"""4-bit NormalFloat quantization with block-wise scales and double quantization (QLoRA).

QLoRA stores a frozen model's weights in NF4: 16 levels placed at quantiles of the standard
normal, so that normally distributed weights use every level about equally, with an exact zero
(Sec. 3). Each block of 64 weights is divided by its absolute maximum first, so one outlier only
spoils its own block; and the 32-bit block scales are themselves quantized to 8 bits in blocks of
256 ("double quantization"), cutting their cost from 32/64 = 0.5 to 8/64 + 32/(64 x 256) = 0.127
bits per parameter. This demo builds NF4 from the normal quantiles and compares it with the table
bitsandbytes ships, and measures on normal weights with a few outliers that NF4 beats a uniform
4-bit grid, that blocks beat one scale per tensor, and what double quantization saves and costs.

Paper: Dettmers, Pagnoni, Holtzman and Zettlemoyer, "QLoRA: Efficient Finetuning of Quantized
LLMs", arXiv 2305.14314.

But: no model, no LoRA fine-tuning and no perplexity; weights are synthetic; no packing into
nibbles, no paged optimizers and no 4-bit matrix-multiply kernel (dequantize, then multiply).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "NF4's 16 levels are normal quantiles (bitsandbytes' table to 1e-6); on normal weights they "
    "beat a uniform 4-bit grid, block-wise scales beat one per tensor, and double quantization "
    "cuts the scales from 0.5 to 0.127 bits per weight at a small cost in error."
)
EQUATIONS = (
    "q_i = (Q_N(i / (2^k + 1)) + Q_N((i + 1) / (2^k + 1))) / 2, then scaled to [-1, 1]  (Eq. 4)",
    "asymmetric halves: 8 positive and 7 negative quantiles plus an exact 0",
    "W_NF4 = nearest_level(W / absmax(block)),  block = 64",
    "double quantization: absmax - mean -> 8 bits, one 32-bit scale per 256: 8/64 + 32/(64 x 256)",
)


@dataclass
class Config:
    """Settings of the quantization demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    weights: int = setting(262_144, "weights quantized (normal, with a few outliers)", low=1024)
    outlier_share: float = setting(0.001, "share of weights multiplied by outlier_scale", low=0.0,
                                   high=0.1)
    outlier_scale: float = setting(20.0, "size of the outliers, in standard deviations", above=0.0)
    block: int = setting(64, "weights per absmax block (QLoRA: 64)", low=2)
    scale_block: int = setting(256, "block scales per second-level block (QLoRA: 256)", low=2)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        per = self.block * self.scale_block
        return ([] if self.weights % per == 0 else
                [f"weights: {self.weights} must be a multiple of block x scale_block = {per}"])


# --quick: fewer weights. Applied before --set, so --set wins.
QUICK = {"weights": 65_536}

# The NF4 table of bitsandbytes (float32 values), for comparison with our construction.
BITSANDBYTES_NF4 = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
)


def normal_quantile(p: float) -> float:
    """Q_N(p), the inverse of the standard normal CDF, by bisection on erf (to double precision)."""
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def nf4_levels(offset: float = 0.9677083) -> np.ndarray:
    """NF4 (Sec. 3): 8 positive quantiles of N(0, 1) from p = offset down towards 1/2, 7 negative
    ones likewise, and 0; divided by the largest so the levels span [-1, 1]. The offset, between
    1 - 1/(2 x 15) and 1 - 1/(2 x 16), keeps the outermost quantile finite (bitsandbytes' value)."""
    positive = [normal_quantile(p) for p in np.linspace(offset, 0.5, 9)[:-1]]
    negative = [-normal_quantile(p) for p in np.linspace(offset, 0.5, 8)[:-1]]
    levels = np.sort(np.array(positive + [0.0] + negative))
    return levels / np.max(np.abs(levels))


def int4_levels() -> np.ndarray:
    """The uniform contrast: 15 evenly spaced symmetric levels in [-1, 1] (absmax int4)."""
    return np.linspace(-1.0, 1.0, 15)


def nearest(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest level for each x (levels sorted)."""
    right = np.clip(np.searchsorted(levels, x), 1, len(levels) - 1)
    left = right - 1
    return np.where(np.abs(x - levels[left]) <= np.abs(levels[right] - x), left, right)


def quantize_blockwise(w: np.ndarray, levels: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n,) as uint8, absmax per block (n / block,) float32)."""
    blocks = w.reshape(-1, block)
    absmax = np.abs(blocks).max(axis=1).astype(np.float32)
    codes = nearest(blocks / absmax[:, None], levels).astype(np.uint8)
    return codes.reshape(-1), absmax


def dequantize_blockwise(codes: np.ndarray, absmax: np.ndarray, levels: np.ndarray) -> np.ndarray:
    block = codes.size // absmax.size
    return (levels[codes].reshape(-1, block) * absmax[:, None]).reshape(-1)


def double_quantize(absmax: np.ndarray, scale_block: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The scales, quantized: subtract their mean (they are all positive), then 8-bit absmax
    quantization in blocks of scale_block (linear int8 here; bitsandbytes uses a dynamic 8-bit
    map). Returns (codes int8, float32 scale per block, mean)."""
    mean = float(absmax.mean())
    centred = (absmax - mean).reshape(-1, scale_block)
    scale = (np.abs(centred).max(axis=1) / 127).astype(np.float32)
    codes = np.round(centred / scale[:, None]).astype(np.int8)
    return codes.reshape(-1), scale, mean


def double_dequantize(codes: np.ndarray, scale: np.ndarray, mean: float) -> np.ndarray:
    return (codes.reshape(scale.size, -1) * scale[:, None]).reshape(-1) + mean


def relative_mse(w: np.ndarray, w_hat: np.ndarray) -> float:
    return float(np.mean((w - w_hat) ** 2) / np.mean(w**2))


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    c = config
    rng = np.random.default_rng(c.seed)
    w = rng.normal(0.0, 0.02, c.weights)  # a layer's weights: normal, std 0.02
    outliers = rng.random(c.weights) < c.outlier_share
    w[outliers] *= c.outlier_scale

    # 1. NF4 from normal quantiles == the table bitsandbytes ships; it has an exact zero.
    levels = nf4_levels()
    table_gap = float(np.max(np.abs(levels - np.array(BITSANDBYTES_NF4))))
    zero_count = int(np.sum(levels == 0.0))

    # 2. NF4 vs a uniform 4-bit grid, both with block-wise absmax; blocks vs one absmax.
    codes, absmax = quantize_blockwise(w, levels, c.block)
    nf4 = dequantize_blockwise(codes, absmax, levels)
    err_nf4 = relative_mse(w, nf4)
    int4_codes, int4_absmax = quantize_blockwise(w, int4_levels(), c.block)
    err_int4 = relative_mse(w, dequantize_blockwise(int4_codes, int4_absmax, int4_levels()))
    tensor_codes, tensor_absmax = quantize_blockwise(w, levels, w.size)
    err_tensor = relative_mse(w, dequantize_blockwise(tensor_codes, tensor_absmax, levels))
    # Every level, put on the grid and read back, is itself (the rounding is to the nearest).
    roundtrip = float(np.max(np.abs(levels[nearest(levels, levels)] - levels)))
    # The binary-search rounding against brute force: no other level is closer to any weight.
    scaled = (w.reshape(-1, c.block) / absmax[:, None]).reshape(-1)
    chosen = np.abs(scaled - levels[codes])
    closest = np.min(np.abs(scaled[:, None] - levels[None, :]), axis=1)
    rounding_gap = float(np.max(chosen - closest))
    report(0.6)

    # 3. Double quantization of the block scales: bits per weight from the stored arrays.
    dq_codes, dq_scale, mean = double_quantize(absmax, c.scale_block)
    absmax_dq = double_dequantize(dq_codes, dq_scale, mean)
    err_dq = relative_mse(w, dequantize_blockwise(codes, absmax_dq.astype(np.float32), levels))
    bits_plain = 8 * absmax.nbytes / c.weights
    bits_dq = (8 * (dq_codes.nbytes + dq_scale.nbytes) + 32) / c.weights  # + the one mean
    formula_plain = 32 / c.block
    formula_dq = 8 / c.block + 32 / (c.block * c.scale_block)
    report(1.0)

    checks = [
        check("NF4 from normal quantiles == bitsandbytes' table (max abs diff)", table_gap,
              "<=", 1e-6),
        check("NF4 has exactly one zero level", zero_count, "==", 1),
        check("every level maps to itself (max abs diff)", roundtrip, "==", 0.0),
        check("each weight's level is the nearest one, vs brute force (max excess distance)",
              rounding_gap, "<=", 0.0),
        check("relative MSE, NF4 / uniform 4-bit (both block-wise)", err_nf4 / err_int4, "<", 0.9),
        check(f"relative MSE, block of {c.block} / one absmax per tensor", err_nf4 / err_tensor,
              "<", 0.5),
        check("scale bits per weight, plain == 32 / block (abs diff)",
              abs(bits_plain - formula_plain), "<=", 1e-12),
        check("scale bits per weight, double-quantized == 8/block + 32/(block x scale_block) "
              "(abs diff, one 32-bit mean aside)", abs(bits_dq - formula_dq), "<=", 32 / c.weights + 1e-12),
        check("double quantization: relative MSE increase", err_dq / err_nf4 - 1, "<=", 0.1),
    ]
    return Result(
        checks=checks,
        metrics={
            "nf4_levels": [round(float(x), 4) for x in levels],
            "relative_mse_nf4": err_nf4,
            "relative_mse_uniform_int4": err_int4,
            "relative_mse_nf4_one_scale_per_tensor": err_tensor,
            "relative_mse_nf4_double_quantized": err_dq,
            "scale_bits_per_weight_plain_vs_double": [bits_plain, bits_dq],
            "bits_per_weight_total_plain_vs_double": [4 + bits_plain, 4 + bits_dq],
        },
        charts=[
            Chart("NF4 levels (normal quantiles, an exact zero)", "bars",
                  labels=[str(i) for i in range(16)], y=[float(x) for x in levels]),
            Chart("share of block-wise NF4 codes per level (near-uniform use)", "bars",
                  labels=[str(i) for i in range(16)],
                  y=[float(x) for x in np.bincount(codes, minlength=16) / codes.size]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
