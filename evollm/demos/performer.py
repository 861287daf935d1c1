"""FAVOR+: softmax attention approximated in linear time with positive orthogonal random features.

Shows the core of "Rethinking Attention with Performers" (Choromanski et al., 2020, arXiv
2009.14794). The softmax kernel exp(q.k / sqrt d) equals E_w[phi(x) . phi(y)] for the positive
random features phi(x) = exp(w.x - |x|^2 / 2) / sqrt(m) of x = q / d^(1/4) (Lemma 1), with the w
drawn in orthogonal blocks (Sec. 2.4). Exact attention D^-1 A V with A = exp(Q K^T / sqrt d) (eq. 1)
then becomes D^-1 (phi(Q) (phi(K)^T V)), computed in O(L m d) time without ever forming the
L x L matrix (Sec. 2.2). Checks: features are positive (so every approximate attention weight is
>= 0, unlike sin/cos features); the linear-time order of products equals the explicit L x L
computation; the kernel estimate is unbiased; orthogonal features beat i.i.d. ones; and the error
falls about as m^(-1/2) in the number of features m.

But: random queries, keys and values with small norms (q.k / sqrt d has std 0.25), where the
estimator is well behaved; its variance grows like exp(|x + y|^2), so the sharper attention of a
trained model needs many more features. No causal (prefix-sum) variant, no feature redrawing, no
training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Positive random features give an unbiased, linear-time estimate of softmax "
    "attention whose error falls as m^-1/2."
)
EQUATIONS = (
    "exp(q . k) = E_w[exp(w . q - |q|^2/2) exp(w . k - |k|^2/2)],  w ~ N(0, I)  (Lemma 1)",
    "Att = D^-1 (Q' ((K')^T V)),  D = diag(Q' ((K')^T 1))  (FAVOR+)",
)


@dataclass
class Config:
    """Sizes of the attention problem and of the feature sweep."""

    seed: int = 0
    quick: bool = False  # no effect: the full run is already fast
    seq_len: int = setting(512, "L: queries and keys", low=1)
    d_head: int = setting(16, "d: head dimension", low=1)
    input_std: float = setting(0.5, "std of the entries of q and k", above=0.0)
    features: tuple[int, ...] = setting((16, 64, 256, 1024), "m values of the sweep", low=1)
    draws: int = setting(8, "independent feature draws per m", low=1)
    compare_draws: int = setting(
        100, "feature draws for the orthogonal vs i.i.d. comparison", low=1)
    unbiased_draws: int = setting(
        1600, "feature draws (m = d) averaged for the unbiasedness check", low=2)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return (["features: give at least two different feature counts (the error's slope in m)"]
                if len(set(self.features)) < 2 else [])

def orthogonal_features(rng, m: int, d: int, orthogonal: bool = True) -> np.ndarray:
    """m random directions w, shape (m, d): blocks of d exactly orthogonal rows, each row rescaled to
    the length of a Gaussian vector (chi_d), so that each w is marginally N(0, I) (Sec. 2.4)."""
    if not orthogonal:
        return rng.normal(size=(m, d))
    blocks = []
    for _ in range(-(-m // d)):
        q, r = np.linalg.qr(rng.normal(size=(d, d)))  # q's columns are orthonormal
        q *= np.sign(np.diag(r))  # fixes LAPACK's sign convention: q is then uniform (Haar) over rotations
        lengths = np.linalg.norm(rng.normal(size=(d, d)), axis=1)
        blocks.append(q.T * lengths[:, None])
    return np.vstack(blocks)[:m]


def positive_features(X, W, stabiliser):
    """phi(x) = exp(W x - |x|^2 / 2 - c) / sqrt(m) for each row x of X, shape (L, m) (Lemma 1).

    The constant c cancels in attention: per row for queries (numerator and denominator share it),
    one for all keys. It only keeps exp() from overflowing."""
    exponent = X @ W.T - 0.5 * np.sum(X * X, axis=1, keepdims=True)  # (L, m)
    shift = exponent.max(axis=1, keepdims=True) if stabiliser == "row" else exponent.max()
    return np.exp(exponent - shift) / math.sqrt(W.shape[0])


def softmax_attention(Q, K, V):
    """Exact attention softmax(Q K^T / sqrt d) V, in O(L^2 d)."""
    scores = Q @ K.T / math.sqrt(Q.shape[1])  # (L, L)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True) @ V


def favor_attention(Q, K, V, W):
    """FAVOR+ attention in O(L m d): D^-1 (Q' ((K')^T V)) with D = diag(Q' ((K')^T 1)).

    Returns (output (L, d_v), query features (L, m), key features (L, m))."""
    scale = Q.shape[1] ** -0.25  # so that x . y = q . k / sqrt(d)
    q_feat = positive_features(Q * scale, W, "row")  # (L, m)
    k_feat = positive_features(K * scale, W, "all")  # (L, m)
    numerator = q_feat @ (k_feat.T @ V)  # (L, m) @ (m, d_v): never L x L
    denominator = q_feat @ k_feat.sum(axis=0)  # (L,)
    return numerator / denominator[:, None], q_feat, k_feat


def kernel_bias_z(rng, x, y, draws: int, orthogonal: bool = True) -> float:
    """RMS over pairs of (mean estimate - exp(x.y)) / standard error, for draws of m = d features."""
    d = x.shape[1]
    estimates = np.empty((draws, len(x), len(y)))
    for i in range(draws):
        w = orthogonal_features(rng, d, d, orthogonal)
        fx = np.exp(x @ w.T - 0.5 * np.sum(x * x, axis=1, keepdims=True)) / math.sqrt(d)  # no stabiliser
        fy = np.exp(y @ w.T - 0.5 * np.sum(y * y, axis=1, keepdims=True)) / math.sqrt(d)
        estimates[i] = fx @ fy.T
    standard_error = estimates.std(axis=0, ddof=1) / math.sqrt(draws)
    z = (estimates.mean(axis=0) - np.exp(x @ y.T)) / standard_error
    return float(np.sqrt(np.mean(z**2)))


def relative_error(estimate, exact) -> float:
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))


def run(config: Config, progress: Progress | None = None) -> Result:
    progress = progress or no_progress
    # quick changes nothing: the full run already takes well under a second.
    rng = np.random.default_rng(config.seed)
    L, d = config.seq_len, config.d_head
    Q = rng.normal(scale=config.input_std, size=(L, d))
    K = rng.normal(scale=config.input_std, size=(L, d))
    V = rng.normal(size=(L, d))
    exact = softmax_attention(Q, K, V)

    # Error of the attention output against m, averaged over independent feature draws.
    errors, min_feature = [], np.inf
    for i, m in enumerate(config.features):
        draws = []
        for _ in range(config.draws):
            approx, q_feat, k_feat = favor_attention(Q, K, V, orthogonal_features(rng, m, d))
            draws.append(relative_error(approx, exact))
            min_feature = min(min_feature, q_feat.min(), k_feat.min())
        errors.append(float(np.mean(draws)))
        progress((i + 1) / (len(config.features) + 2))
    slope = float(np.polyfit(np.log(config.features), np.log(errors), 1)[0])
    falls = int(np.sum(np.diff(errors) >= 0))

    # Associativity: the linear-time order equals the explicit L x L computation.
    W = orthogonal_features(rng, config.features[1], d)
    approx, q_feat, k_feat = favor_attention(Q, K, V, W)
    weights = q_feat @ k_feat.T  # (L, L), only for the comparison
    explicit = weights / weights.sum(axis=1, keepdims=True) @ V
    order_error = float(np.max(np.abs(approx - explicit)))

    # Unbiasedness of the kernel estimate (Lemma 1) on 8 x 8 query-key pairs: the mean over
    # independent draws should miss exp(x.y) only by its standard error, so z-scores are ~N(0, 1).
    x, y = Q[:8] * d**-0.25, K[:8] * d**-0.25
    z_rms = kernel_bias_z(rng, x, y, config.unbiased_draws)

    # Orthogonal vs i.i.d. directions at m = d, and sin/cos features for contrast.
    ortho, iid = [], []
    for _ in range(config.compare_draws):
        ortho.append(relative_error(favor_attention(Q, K, V, orthogonal_features(rng, d, d))[0], exact))
        iid.append(relative_error(favor_attention(Q, K, V, orthogonal_features(rng, d, d, orthogonal=False))[0], exact))
    xs, ys = Q * d**-0.25, K * d**-0.25  # trig features exp(|x|^2/2) [sin(w.x), cos(w.x)], up to 1/sqrt(m)
    w = orthogonal_features(rng, d, d)
    trig_q = np.exp(0.5 * np.sum(xs * xs, 1, keepdims=True)) * np.hstack([np.sin(xs @ w.T), np.cos(xs @ w.T)])
    trig_k = np.exp(0.5 * np.sum(ys * ys, 1, keepdims=True)) * np.hstack([np.sin(ys @ w.T), np.cos(ys @ w.T)])
    negative = float(np.mean(trig_q @ trig_k.T < 0))
    progress(1.0)

    return Result(
        checks=[
            check("smallest positive random feature", float(min_feature), ">", 0.0),
            check("max |linear-time - explicit L x L| output", order_error, "<=", 1e-12),
            check(f"RMS z-score of the kernel estimate's bias ({config.unbiased_draws} draws)", z_rms, "<=", 2.0),
            check("m steps where the error did not fall", falls, "==", 0),
            check("|log-log slope of error vs m - (-1/2)|", abs(slope + 0.5), "<=", 0.2),
            check("orthogonal / i.i.d. error at m = d", float(np.mean(ortho) / np.mean(iid)), "<", 1.0),
        ],
        metrics={
            "L x d": f"{L} x {d}",
            "features m": list(config.features),
            "mean relative output error per m": errors,
            "log-log slope": slope,
            "error x sqrt(m) (flat if m^-1/2)": [e * math.sqrt(m) for e, m in zip(errors, config.features)],
            "relative error at m = d, orthogonal / i.i.d.": [float(np.mean(ortho)), float(np.mean(iid))],
            "sin/cos features (m = d): share of negative attention weights": negative,
            # exact: Q K^T and A V, 2 L^2 d; FAVOR+: two feature maps, K'^T V and Q'(K'^T V), 4 L m d.
            "multiply-adds at L = 512, exact vs FAVOR+ (m = 256)": [2 * 512**2 * d, 4 * 512 * 256 * d],
            "multiply-adds at L = 4096, exact vs FAVOR+ (m = 256)": [2 * 4096**2 * d, 4 * 4096 * 256 * d],
        },
        charts=[
            Chart("relative output error per number of features m", "bars",
                  labels=[f"m = {m}" for m in config.features], y=errors),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
