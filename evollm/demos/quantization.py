"""Quantizing LLMs: absmax and zero-point int8, LLM.int8()'s outliers, SmoothQuant, QLoRA's NF4.

Int8 quantization maps a tensor onto 8-bit integers: absmax scales by 127 / max|x|, symmetric
around zero; zero-point scales the range [min, max] onto all 256 codes and shifts it, so
one-sided data (after a ReLU) loses no half of the grid (LLM.int8() paper, Sec. 2.1). Large
transformers break plain int8: a few hidden features carry activations far larger than the rest
in almost every token, and a row's absmax is then set by those few values, leaving the others a
coarse grid. LLM.int8() quantizes vector-wise (a scale per row of X and per column of W) and
splits the product: the feature columns of X with any |x| >= 6.0, and the matching rows of W, are
multiplied in 16 bits, everything else in int8 (Sec. 3). SmoothQuant (Xiao et al., arXiv
2211.10438) instead moves the difficulty into the weights: it divides each input channel j of X
by s_j = max|X_j|^alpha / max|W_j|^(1 - alpha) and multiplies row j of W by it, which leaves X W
unchanged exactly while flattening the outlier channels (alpha = 0.5 balances the two). QLoRA
stores weights in 4-bit NormalFloat: 16 levels placed at quantiles of the standard normal with an
exact zero, in blocks of 64 weights each with its own absmax, the 32-bit block scales themselves
quantized to 8 bits in blocks of 256 ("double quantization"), 0.127 instead of 0.5 bits per
weight. This demo implements each and checks it on synthetic activations with planted outlier
features and on normal weights.

Paper: Dettmers, Lewis, Belkada and Zettlemoyer, "LLM.int8(): 8-bit Matrix Multiplication for
Transformers at Scale", arXiv 2208.07339; with Xiao et al., "SmoothQuant", arXiv 2211.10438, and
Dettmers, Pagnoni, Holtzman and Zettlemoyer, "QLoRA", arXiv 2305.14314 (NF4).

But: no model and no perplexity; activations and weights are synthetic (the outlier features are
planted, not emergent); int8 products are exact integer sums done in float64, not int8 kernels;
the 16-bit part is float16 rounding of inputs; no packing into nibbles, no LoRA fine-tuning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Absmax and zero-point int8 err by at most half a step, zero-point using all 256 codes on "
    "one-sided data; with outlier features, LLM.int8()'s 16-bit split of the columns with |x| >= 6 "
    "beats plain vector-wise int8, and SmoothQuant's migration leaves X W unchanged and lowers "
    "the int8 error; NF4's 16 levels are normal quantiles (bitsandbytes' table to 1e-6), beat a "
    "uniform 4-bit grid, and double quantization cuts the scales from 0.5 to 0.127 bits per weight."
)
EQUATIONS = (
    "absmax: x_i8 = round(127 x / max|x|);  zero-point: x_i8 = round(x 255 / (max - min)) + zp, "
    "zp = round(-min 255 / (max - min)) - 128",
    "vector-wise: X W ~ (X_i8 W_i8) * (max|X_row| max|W_col|) / 127^2",
    "LLM.int8(): O = {h : any |X_(:,h)| >= 6};  X W = X_O W_O (16-bit) + X_notO W_notO (int8)",
    "SmoothQuant: s_j = max|X_j|^alpha / max|W_j|^(1 - alpha);  (X diag(s)^-1)(diag(s) W) = X W",
    "q_i = (Q_N(i / (2^k + 1)) + Q_N((i + 1) / (2^k + 1))) / 2, then scaled to [-1, 1]  (QLoRA Eq. 4)",
    "asymmetric halves: 8 positive and 7 negative quantiles plus an exact 0",
    "W_NF4 = nearest_level(W / absmax(block)),  block = 64",
    "double quantization: absmax - mean -> 8 bits, one 32-bit scale per 256: 8/64 + 32/(64 x 256)",
)


@dataclass
class Config:
    """Settings of the quantization demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    tokens: int = setting(256, "activations X: tokens (rows)", low=8)
    hidden: int = setting(512, "activations X: features (columns; rows of W)", low=8)
    out_features: int = setting(256, "columns of the weight W", low=1)
    outlier_features: int = setting(4, "feature columns of X with planted large activations", low=1)
    outlier_size: float = setting(20.0, "typical size of the planted outlier activations (the "
                                  "others are N(0, 1))", low=8.0, high=1000.0)
    threshold: float = setting(6.0, "LLM.int8(): a feature with any |x| >= this stays 16-bit "
                               "(paper: 6.0; below 5, N(0, 1) activations cross it too)", low=5.0)
    smooth_alpha: float = setting(0.5, "SmoothQuant's migration strength alpha (paper: 0.5; "
                                  "near 0 or 1 it moves too little or too much)", low=0.2, high=0.9)
    weights: int = setting(262_144, "NF4: weights quantized (normal, with a few outliers)", low=1024)
    outlier_share: float = setting(0.001, "NF4: share of weights multiplied by outlier_scale", low=0.0,
                                   high=0.1)
    outlier_scale: float = setting(20.0, "NF4: size of the outliers, in standard deviations", above=0.0)
    block: int = setting(64, "NF4: weights per absmax block (QLoRA: 64)", low=2)
    scale_block: int = setting(256, "NF4: block scales per second-level block (QLoRA: 256)", low=2)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        per = self.block * self.scale_block
        out = ([] if self.weights % per == 0 else
               [f"weights: {self.weights} must be a multiple of block x scale_block = {per}"])
        if self.outlier_features * 4 > self.hidden:
            out.append(f"outlier_features: {self.outlier_features} must be at most a quarter of "
                       f"hidden = {self.hidden}")
        if self.threshold >= self.outlier_size:
            out.append(f"threshold: {self.threshold:g} must be below outlier_size = "
                       f"{self.outlier_size:g}, or the planted features are not found")
        return out


# --quick: fewer weights and tokens. Applied before --set, so --set wins.
QUICK = {"weights": 65_536, "tokens": 128}


# --- int8: absmax and zero-point ------------------------------------------------------------------

def absmax_quantize(x: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8: codes round(127 x / max|x|) in [-127, 127], and the step max|x| / 127
    (one per tensor, or per row / column along `axis`)."""
    top = np.max(np.abs(x), axis=axis, keepdims=axis is not None)
    return np.round(127 * x / top).astype(np.int8), top / 127


def zeropoint_quantize(x: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Asymmetric int8: [min, max] spread over all 256 codes -128..127. Returns (codes, step,
    zero point); x ~ (code - zero point) x step."""
    step = float(x.max() - x.min()) / 255
    zero = int(np.round(-x.min() / step)) - 128
    codes = np.clip(np.round(x / step) + zero, -128, 127).astype(np.int8)
    return codes, step, zero


def int8_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Vector-wise int8 product: X by rows, W by columns, integer products (exact in float64),
    then the outer product of the two scales."""
    qx, step_x = absmax_quantize(x, axis=1)
    qw, step_w = absmax_quantize(w, axis=0)
    return (qx.astype(np.float64) @ qw.astype(np.float64)) * step_x * step_w


def fp16_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The 16-bit path: inputs rounded to float16, products summed in float32."""
    return (x.astype(np.float16).astype(np.float32) @ w.astype(np.float16).astype(np.float32)).astype(np.float64)


def outlier_columns(x: np.ndarray, threshold: float) -> np.ndarray:
    """LLM.int8(): the feature columns with at least one |x| >= threshold (a boolean mask)."""
    return np.any(np.abs(x) >= threshold, axis=0)


def llm_int8_matmul(x: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Mixed-precision decomposition: the outlier columns of X and the same rows of W in 16 bits,
    the rest in vector-wise int8, the two products added."""
    cols = outlier_columns(x, threshold)
    return fp16_matmul(x[:, cols], w[cols]) + int8_matmul(x[:, ~cols], w[~cols])


def smoothing_factors(x: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant: s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), per input channel j."""
    return np.max(np.abs(x), axis=0) ** alpha / np.max(np.abs(w), axis=1) ** (1 - alpha)


def smooth(x: np.ndarray, w: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Migrate the scale: X diag(s)^-1 and diag(s) W (the product is unchanged)."""
    return x / s, w * s[:, None]


def relative_error(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


def relative_mse(w: np.ndarray, w_hat: np.ndarray) -> float:
    return float(np.mean((w - w_hat) ** 2) / np.mean(w**2))


# --- 4-bit NormalFloat (QLoRA) ----------------------------------------------------------------------

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


def planted_activations(rng, c: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X without outliers, X with them, the planted columns): N(0, 1) activations, then a few
    feature columns set to about +-outlier_size in every token, each with its own sign, as the
    systematic outlier features LLM.int8() describes."""
    x = rng.normal(size=(c.tokens, c.hidden))
    cols = np.sort(rng.choice(c.hidden, c.outlier_features, replace=False))
    with_outliers = x.copy()
    size = c.outlier_size * (1 + 0.25 * rng.normal(size=(c.tokens, c.outlier_features)))
    with_outliers[:, cols] = np.abs(size) * rng.choice([-1.0, 1.0], c.outlier_features)
    return x, with_outliers, cols


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    c = config
    rng = np.random.default_rng(c.seed)

    # 1. Int8 basics: absmax on symmetric data, zero-point on one-sided data (ReLU outputs).
    sym = rng.normal(size=(c.tokens, c.hidden))
    codes_abs, step_abs = absmax_quantize(sym)
    absmax_gap = float(np.max(np.abs(codes_abs * step_abs - sym)) / (step_abs / 2))
    relu = np.maximum(rng.normal(size=(c.tokens, c.hidden)), 0.0)
    codes_zp, step_zp, zero = zeropoint_quantize(relu)
    zp_hat = (codes_zp.astype(np.float64) - zero) * step_zp
    zeropoint_gap = float(np.max(np.abs(zp_hat - relu)) / (step_zp / 2))
    codes_relu, step_relu = absmax_quantize(relu)
    zp_vs_absmax = relative_mse(relu, zp_hat) / relative_mse(relu, codes_relu * step_relu)
    code_span = (int(codes_zp.min()), int(codes_zp.max()))
    report(0.15)

    # 2. LLM.int8(): with planted outlier features, split them off in 16 bits.
    x_plain, x, planted = planted_activations(rng, c)
    w_act = rng.normal(0.0, c.hidden**-0.5, (c.hidden, c.out_features))
    exact = x @ w_act
    err_int8 = relative_error(int8_matmul(x, w_act), exact)
    err_decomposed = relative_error(llm_int8_matmul(x, w_act, c.threshold), exact)
    found = np.nonzero(outlier_columns(x, c.threshold))[0]
    # Without outlier features nothing crosses the threshold: the decomposition is plain int8.
    no_outlier_gap = float(np.max(np.abs(llm_int8_matmul(x_plain, w_act, c.threshold)
                                         - int8_matmul(x_plain, w_act))))
    report(0.3)

    # 3. SmoothQuant: migrate the outliers' scale into W; the product is unchanged, and the int8
    #    product of the smoothed pair is closer to it.
    s = smoothing_factors(x, w_act, c.smooth_alpha)
    x_s, w_s = smooth(x, w_act, s)
    smooth_gap = relative_error(x_s @ w_s, exact)
    err_smooth = relative_error(int8_matmul(x_s, w_s), exact)
    # Per channel, max|X^_j| / max|W^_j| = (max|X_j| max|W_j|)^(1 - 2 alpha): at alpha = 0.5
    # the two maxima are equal, the difficulty shared evenly.
    product_before = np.max(np.abs(x), axis=0) * np.max(np.abs(w_act), axis=1)
    ratio_after = np.max(np.abs(x_s), axis=0) / np.max(np.abs(w_s), axis=1)
    balance_gap = float(np.max(np.abs(ratio_after / product_before ** (1 - 2 * c.smooth_alpha) - 1)))
    channel_max = np.max(np.abs(x), axis=0)
    smoothed_max = np.max(np.abs(x_s), axis=0)
    report(0.4)

    # 4. NF4 weights: normal, std 0.02, with a few outliers.
    w = rng.normal(0.0, 0.02, c.weights)
    outliers = rng.random(c.weights) < c.outlier_share
    w[outliers] *= c.outlier_scale

    # 4a. NF4 from normal quantiles == the table bitsandbytes ships; it has an exact zero.
    levels = nf4_levels()
    table_gap = float(np.max(np.abs(levels - np.array(BITSANDBYTES_NF4))))
    zero_count = int(np.sum(levels == 0.0))

    # 4b. NF4 vs a uniform 4-bit grid, both with block-wise absmax; blocks vs one absmax.
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
    report(0.8)

    # 4c. Double quantization of the block scales: bits per weight from the stored arrays.
    dq_codes, dq_scale, mean = double_quantize(absmax, c.scale_block)
    absmax_dq = double_dequantize(dq_codes, dq_scale, mean)
    err_dq = relative_mse(w, dequantize_blockwise(codes, absmax_dq.astype(np.float32), levels))
    bits_plain = 8 * absmax.nbytes / c.weights
    bits_dq = (8 * (dq_codes.nbytes + dq_scale.nbytes) + 32) / c.weights  # + the one mean
    formula_plain = 32 / c.block
    formula_dq = 8 / c.block + 32 / (c.block * c.scale_block)
    report(1.0)

    checks = [
        check("absmax int8: largest error / half a step", absmax_gap, "<=", 1 + 1e-9),
        check("zero-point int8: largest error / half a step", zeropoint_gap, "<=", 1 + 1e-9),
        check("zero-point int8 on ReLU outputs uses every code: lowest + 128, 127 - highest",
              abs(code_span[0] + 128) + abs(127 - code_span[1]), "==", 0),
        check("ReLU outputs: relative MSE, zero-point / absmax (a grid twice as fine: about 1/4)",
              zp_vs_absmax, "<", 0.35),
        check(f"LLM.int8(): columns with |x| >= {c.threshold:g} are exactly the {c.outlier_features} "
              "planted outlier features (mismatches)",
              len(set(found.tolist()) ^ set(planted.tolist())), "==", 0),
        check("with outlier features: product error, LLM.int8() decomposition / plain vector-wise int8",
              err_decomposed / err_int8, "<", 0.5),
        check("without outlier features: decomposition == plain int8 (max abs diff)", no_outlier_gap,
              "==", 0.0),
        check(f"SmoothQuant, alpha = {c.smooth_alpha:g}: smoothed X^ W^ == X W before quantization "
              "(relative error)", smooth_gap, "<=", 1e-12),
        check("SmoothQuant: per channel, max|X^| / max|W^| == (max|X| max|W|)^(1 - 2 alpha), 1 at "
              "alpha = 0.5 (max rel. diff)",
              balance_gap, "<=", 1e-9),
        check("with outlier features: product error, int8 after smoothing / plain vector-wise int8",
              err_smooth / err_int8, "<", 0.75),
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
            "int8_product_relative_error_plain_llm_int8_smoothquant": [err_int8, err_decomposed, err_smooth],
            "llm_int8_16_bit_columns": found.tolist(),
            "llm_int8_share_of_features_in_16_bit": len(found) / c.hidden,
            "activation_channel_max_over_median_before_after_smoothing": [
                float(channel_max.max() / np.median(channel_max)),
                float(smoothed_max.max() / np.median(smoothed_max))],
            "relative_mse_relu_zeropoint_vs_absmax_int8": zp_vs_absmax,
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
