"""GPTQ: quantize a layer's weights column by column, pushing each rounding error onto the rest.

Shows the algorithm of "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
Transformers" (Frantar, Ashkboos, Hoefler and Alistarh, arXiv 2210.17323). For a linear layer
W (d_out, d_in) that sees inputs X (d_in, n), GPTQ minimises ||W X - Q X||^2 rather than
||W - Q||^2: it rounds one input column at a time and corrects the not-yet-rounded columns by
the error times a row of the inverse Hessian H^-1, H = 2 X X^T (the Optimal Brain Surgeon update,
eqs. 2-3). Its tricks: one fixed column order for all rows, the rows of H^-1 read off a Cholesky
factor (Step 3), and updates batched 128 columns at a time (Step 2). Plain round-to-nearest (RTN)
on the same grid is the baseline. When the inputs are correlated and of unequal scale, GPTQ's
output error is a fraction of RTN's; when H is a multiple of the identity there is nothing to
compensate, and GPTQ returns exactly the RTN weights.

But: one synthetic layer with synthetic inputs, not a language model, so no perplexity; no
act-order, no grouped scales, and quantized weights are kept as dequantized floats (no packing or
low-bit kernels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Quantizing one column at a time and spreading each rounding error over the "
    "remaining columns with the inverse Hessian cuts the layer's output error far "
    "below round-to-nearest."
)
EQUATIONS = (
    "argmin_Q ||W X - Q X||^2,  H = 2 X X^T  (Eq. 1)",
    "delta_F = -(w_q - quant(w_q)) / [H^-1]_qq  (H^-1)_(:, q)  (Eq. 2)",
    "H^-1_(-q) = H^-1 - H^-1_(:,q) H^-1_(q,:) / [H^-1]_qq  (Eq. 3); rows of H^-1 from its Cholesky factor",
)


@dataclass
class Config:
    """Settings of the GPTQ demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    d_out: int = setting(768, "rows of W", low=1)
    d_in: int = setting(768, "columns of W, the width of the layer's input", low=1)
    samples: int = setting(4096, "calibration inputs", low=1)
    bits: tuple[int, ...] = setting(
        (4, 3, 2), "bit widths compared (4 and 3 are checked)", low=2, high=8)
    block: int = setting(128, "columns per lazy batch (Step 2)", low=1)
    percdamp: float = setting(
        0.01, "dampening: add 1% of the mean diagonal of H (the reference default)",
        above=0.0, high=1.0)


# --quick: a smaller layer. Applied before --set, so --set wins.
QUICK = {"d_out": 192, "d_in": 192, "samples": 1024}


def grid(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row asymmetric min-max grid: (scale, zero) of shape (d_out, 1) each.

    As in the reference quantizer, the range always includes 0, and the zero point is an integer.
    """
    maxq = 2**bits - 1
    lo = np.minimum(w.min(axis=1, keepdims=True), 0.0)
    hi = np.maximum(w.max(axis=1, keepdims=True), 0.0)
    scale = (hi - lo) / maxq
    scale[scale == 0] = 1.0
    return scale, np.round(-lo / scale)


def quantize(w: np.ndarray, scale: np.ndarray, zero: np.ndarray, bits: int) -> np.ndarray:
    """Round to the nearest grid point and dequantize: scale * (clip(round(w/scale) + zero) - zero)."""
    q = np.clip(np.round(w / scale) + zero, 0, 2**bits - 1)
    return scale * (q - zero)


def rtn(w: np.ndarray, bits: int) -> np.ndarray:
    """Round-to-nearest: every weight on its own."""
    scale, zero = grid(w, bits)
    return quantize(w, scale, zero, bits)


def gptq(w: np.ndarray, h: np.ndarray, bits: int, block: int = 128, percdamp: float = 0.01):
    """GPTQ (Algorithm 1): quantized weights (dequantized, same shape as w) for Hessian h = 2XX^T."""
    w = w.astype(np.float64).copy()  # (d_out, d_in)
    d_in = w.shape[1]
    scale, zero = grid(w, bits)  # fixed from the original weights, before any update
    h = h.astype(np.float64).copy()
    dead = np.diag(h) == 0  # inputs that are always 0 carry no information
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices(d_in)] += percdamp * np.mean(np.diag(h))  # dampening
    # Step 3: the needed rows of the successively shrunk H^-1 are the rows of the upper Cholesky
    # factor of H^-1 (each divided by its diagonal entry, done below via err / u_jj).
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # (d_in, d_in) upper triangular
    q = np.zeros_like(w)
    for i1 in range(0, d_in, block):  # Step 2: lazy batches of `block` columns
        i2 = min(i1 + block, d_in)
        w1 = w[:, i1:i2].copy()  # (d_out, B)
        err1 = np.zeros_like(w1)
        u1 = u[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = w1[:, i]
            q[:, i1 + i] = quantize(col[:, None], scale, zero, bits)[:, 0]
            err = (col - q[:, i1 + i]) / u1[i, i]  # (d_out,)
            w1[:, i:] -= np.outer(err, u1[i, i:])  # eq. 3 inside the block
            err1[:, i] = err
        w[:, i2:] -= err1 @ u[i1:i2, i2:]  # the block's errors, applied to the rest at once
    return q


def obs_sequential(w: np.ndarray, h: np.ndarray, bits: int, percdamp: float = 0.01) -> np.ndarray:
    """The plain algorithm GPTQ speeds up: quantize column j, spread its error over the later
    columns with row j of the current H^-1 (eq. 2), then remove j from H^-1 (eq. 3), one column at
    a time on the whole matrix. No Cholesky, no blocks: what `gptq` must reproduce exactly."""
    w = w.astype(np.float64).copy()  # (d_out, d_in)
    d_in = w.shape[1]
    scale, zero = grid(w, bits)
    h = h.astype(np.float64).copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices(d_in)] += percdamp * np.mean(np.diag(h))
    h_inv = np.linalg.inv(h)  # (d_in, d_in)
    q = np.zeros_like(w)
    for j in range(d_in):
        q[:, j] = quantize(w[:, j : j + 1], scale, zero, bits)[:, 0]
        err = (w[:, j] - q[:, j]) / h_inv[j, j]  # (d_out,)
        w[:, j + 1 :] -= np.outer(err, h_inv[j, j + 1 :])  # eq. 2: the optimal update delta_F
        h_inv -= np.outer(h_inv[:, j], h_inv[j, :]) / h_inv[j, j]  # eq. 3: drop column j
    return q


def output_error(w, q, xxt) -> float:
    """||W X - Q X||_F^2 / ||W X||_F^2, the layer-wise objective of eq. 1 made relative.

    Computed from X X^T (d_in, d_in): ||E X||^2 = sum((E X X^T) * E), cheaper than E X for n > d_in.
    """
    def sq(e):
        return float(np.sum((e @ xxt) * e))

    return sq(w - q) / sq(w)


def on_grid(w, q, bits) -> float:
    """How far Q's integer codes are from integers in [0, 2^bits - 1] (0 if Q is on the grid)."""
    scale, zero = grid(w, bits)
    codes = q / scale + zero
    return float(max(np.max(np.abs(codes - np.round(codes))), -min(codes.min(), 0.0),
                     max(codes.max() - (2**bits - 1), 0.0)))


def calibration_inputs(rng, d_in: int, n: int) -> np.ndarray:
    """Inputs like a transformer's hidden states: strongly correlated (most of their variance in
    d_in/8 directions) and of unequal scale (log-normal per-feature scales, so a few outliers)."""
    rank = max(1, d_in // 8)
    factors = rng.normal(0.0, 1.0, (d_in, rank)) / np.sqrt(rank)  # (d_in, r)
    latent = factors @ rng.normal(0.0, 1.0, (rank, n)) + 0.3 * rng.normal(0.0, 1.0, (d_in, n))
    scales = np.exp(rng.normal(0.0, 1.0, d_in))  # (d_in,)
    return scales[:, None] * latent  # (d_in, n)


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    d_out, d_in, n = config.d_out, config.d_in, config.samples
    w = rng.normal(0.0, 1.0 / np.sqrt(d_in), (d_out, d_in))  # (d_out, d_in)
    x = calibration_inputs(rng, d_in, n)  # (d_in, n)
    h = 2.0 * x @ x.T  # (d_in, d_in) Hessian of the layer-wise squared error

    errors, seconds, grid_gap, plain_gap = {}, {}, 0.0, 0.0
    for i, bits in enumerate(config.bits):
        start = time.perf_counter()
        q = gptq(w, h, bits, config.block, config.percdamp)
        seconds[bits] = time.perf_counter() - start
        # The Cholesky rows and lazy blocks change the order of the work, not the result.
        plain_gap = max(plain_gap, float(np.max(np.abs(
            q - obs_sequential(w, h, bits, config.percdamp)))))
        errors[bits] = (output_error(w, rtn(w, bits), h / 2), output_error(w, q, h / 2))
        grid_gap = max(grid_gap, on_grid(w, q, bits))
        report(0.9 * (i + 1) / len(config.bits))

    # With H a multiple of the identity, no column can help another: GPTQ must equal RTN.
    iso = 2.0 * n * np.eye(d_in)
    iso_gap = max(float(np.max(np.abs(gptq(w, iso, b, config.block, config.percdamp) - rtn(w, b))))
                  for b in config.bits)
    report(1.0)

    # Measured 0.15-0.21 on these correlated inputs; a GPTQ that loses part of its error
    # compensation (say, to later blocks) measured 0.40 in --quick, so 0.35 separates the two.
    checks = [check(f"{b}-bit layer-output error, GPTQ / RTN", errors[b][1] / errors[b][0], "<=", 0.35)
              for b in config.bits if b in (4, 3)]
    checks += [
        check("blocked Cholesky GPTQ == column-by-column OBS updates (max abs diff)", plain_gap,
              "<=", 1e-9),
        check("isotropic Hessian: max |GPTQ - RTN|", iso_gap, "<=", 0.0),
        check("GPTQ weights off the quantization grid (max)", grid_gap, "<=", 1e-9),
    ]
    labels, values = [], []
    for b in config.bits:
        labels += [f"RTN {b}-bit", f"GPTQ {b}-bit"]
        values += [errors[b][0], errors[b][1]]
    return Result(
        checks=checks,
        metrics={
            "layer": f"{d_out} x {d_in}, {n} calibration inputs",
            "bits": list(config.bits),
            "relative_output_error_rtn": [errors[b][0] for b in config.bits],
            "relative_output_error_gptq": [errors[b][1] for b in config.bits],
            "gptq_over_rtn": [errors[b][1] / errors[b][0] for b in config.bits],
            "gptq_seconds": [seconds[b] for b in config.bits],
        },
        charts=[Chart("relative layer-output error ||WX - QX||^2 / ||WX||^2", "bars",
                      y=values, labels=labels)],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
