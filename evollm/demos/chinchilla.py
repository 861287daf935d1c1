"""Compute-optimal model and data size: the Chinchilla scaling law and a calculator for it.

Shows approach 3 of "Training Compute-Optimal Large Language Models" (Hoffmann et al., arXiv
2203.15556): model the final loss as L(N, D) = E + A / N^alpha + B / D^beta for N parameters
trained on D tokens, spend a compute budget C = 6 N D, and minimise. The closed form (their eq. 4)
splits the budget as N_opt = G (C/6)^a and D_opt = G^-1 (C/6)^b with a = beta / (alpha + beta),
so parameters and tokens grow at similar rates, unlike the N ~ C^0.73 of "Scaling Laws for Neural
Language Models" (Kaplan et al., arXiv 2001.08361). The demo checks the closed form against a
numeric search along each IsoFLOP curve, refits the law to synthetic IsoFLOP runs to show the
exponents are recoverable, and prices Gopher's budget (5.76e23 FLOPs, the budget Chinchilla was
trained with) with the paper's constants and with the refit of Besiroglu et al., "Chinchilla
Scaling: A replication attempt" (arXiv 2404.10102). Set `--set flops=1e24` for another budget.

But: no model is trained; the "experiments" are samples of the fitted law with 1% noise, fitted by
least squares on a grid of exponents rather than the paper's Huber loss with L-BFGS; C = 6ND
ignores attention FLOPs and the embedding parameters' share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "For a compute budget C = 6 N D, loss L(N, D) = E + A/N^alpha + B/D^beta is "
    "minimised by growing N and D at about the same rate."
)
EQUATIONS = (
    "L(N, D) = E + A / N^alpha + B / D^beta  (Eq. 2)",
    "N_opt = G (C/6)^(beta/(alpha+beta)),  D_opt = G^-1 (C/6)^(alpha/(alpha+beta)),  G = (alpha A / (beta B))^(1/(alpha+beta))  (Eq. 4)",
)


@dataclass
class Config:
    """Settings of the Chinchilla demo; `flops` is the calculator's input."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    flops: float = setting(
        5.76e23, "training budget C to allocate (default: Gopher's, and Chinchilla's)",
        low=1e6, high=1e35)
    noise: float = setting(
        0.01, "log-normal noise of the synthetic final losses", low=0.0, high=0.5)
    sizes_per_budget: int = setting(
        40, "model sizes per synthetic IsoFLOP curve (9 budgets: 360 runs, near the paper's 400)",
        low=5)
    span_decades: float = setting(
        1.5, "the sizes run from 10^-span to 10^span times the optimum", above=0.0, high=4.0)
    grid_step: float = setting(
        0.005, "exponent grid of the refit, refined twice by 10x",
        above=0.0, high=0.1)


# --quick: a coarser exponent grid. Applied before --set, so --set wins.
QUICK = {"grid_step": 0.01}


# L(N, D) = E + A / N^alpha + B / D^beta
PAPER = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)  # Hoffmann et al., eq. 10
# The same fit with the digits of the paper's TeX source, as quoted by Besiroglu et al.: the
# rounding above moves Gopher-budget N_opt from about 40B to 32B.
PAPER_TEX = dict(E=1.6934, A=406.4, B=410.7, alpha=0.3392, beta=0.2849)
REFIT = dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)  # Besiroglu et al. 2024
GOPHER_FLOPS = 5.76e23
KAPLAN_N_EXPONENT = 0.73  # Kaplan et al.: N_opt grows as C^0.73
# The paper's IsoFLOP budgets (Figure 3) run from 6e18 to 3e21 FLOPs.
SYNTHETIC_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


def loss(n, d, E, A, B, alpha, beta):
    """Eq. 2: the predicted final loss of N parameters trained on D tokens."""
    return E + A / np.power(n, alpha) + B / np.power(d, beta)


def compute_optimal(flops: float, E, A, B, alpha, beta) -> tuple[float, float]:
    """Eq. 4: (N_opt, D_opt) = (G (C/6)^a, G^-1 (C/6)^b), G = (alpha A / (beta B))^(1/(alpha+beta))."""
    g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    return g * (flops / 6) ** a, (flops / 6) ** b / g


def isoflop_search(flops: float, consts: dict) -> float:
    """argmin over N of L(N, C / 6N), by a dense grid in log N and then golden-section search."""
    def f(log_n):
        n = np.exp(log_n)
        return loss(n, flops / (6 * n), **consts)

    grid = np.linspace(math.log(1e3), math.log(flops / 6 / 1e3), 4001)
    i = int(np.argmin(f(grid)))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(100):  # golden section: the bracket shrinks by 0.618 per step
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if f(x1) < f(x2):
            hi = x2
        else:
            lo = x1
    return float(math.exp((lo + hi) / 2))


def synthetic_isoflops(rng, truth: dict, sizes: int, noise: float, span: float):
    """Final losses of `sizes` models per budget, 10^-span to 10^span times the optimal size."""
    n_all, d_all, c_all = [], [], []
    for c in SYNTHETIC_BUDGETS:
        n_opt, _ = compute_optimal(c, **truth)
        n = n_opt * np.logspace(-span, span, sizes)
        n_all.append(n)
        d_all.append(c / (6 * n))
        c_all.append(np.full(sizes, c))
    n, d, c = np.concatenate(n_all), np.concatenate(d_all), np.concatenate(c_all)
    observed = loss(n, d, **truth) * np.exp(noise * rng.standard_normal(n.size))
    return n, d, c, observed


def fit_law(n, d, observed, alphas, betas):
    """Best (E, A, B, alpha, beta) over a grid of exponents, by variable projection.

    For fixed (alpha, beta) the law is linear in (E, A, B), so each grid point is a weighted
    least-squares solve; the weights 1/L make the residuals relative, as a fit in log L would.
    Returns the fitted constants and the grid of residual sums of squares (alphas x betas).
    """
    w = 1.0 / observed
    y = observed * w  # all ones
    na = np.power(n[None, :], -alphas[:, None])  # (Na, M) N^-alpha
    db = np.power(d[None, :], -betas[:, None])  # (Nb, M) D^-beta
    ones = np.broadcast_to(w, (alphas.size, betas.size, w.size))
    x = np.stack([ones, np.broadcast_to((na * w)[:, None, :], ones.shape),
                  np.broadcast_to((db * w)[None, :, :], ones.shape)], axis=-1)  # (Na, Nb, M, 3)
    xtx = np.einsum("abmi,abmj->abij", x, x)
    xty = np.einsum("abmi,m->abi", x, y)
    coef = np.linalg.solve(xtx, xty[..., None])[..., 0]  # (Na, Nb, 3)
    rss = np.sum((np.einsum("abmi,abi->abm", x, coef) - y) ** 2, axis=-1)  # (Na, Nb)
    i, j = np.unravel_index(np.argmin(rss), rss.shape)
    e, a, b = coef[i, j]
    return dict(E=float(e), A=float(a), B=float(b), alpha=float(alphas[i]),
                beta=float(betas[j])), rss


def refit(n, d, observed, step: float) -> dict:
    """fit_law on [0.1, 0.7]^2 at `step`, then twice on a 10x finer grid around the best point."""
    alphas = betas = np.arange(0.1, 0.7 + step / 2, step)
    fit, _ = fit_law(n, d, observed, alphas, betas)
    for _ in range(2):
        alphas = fit["alpha"] + np.linspace(-step, step, 21)
        betas = fit["beta"] + np.linspace(-step, step, 21)
        fit, _ = fit_law(n, d, observed, alphas, betas)
        step /= 10
    return fit


def isoflop_exponent(n, c, observed) -> float:
    """Approach 2: a parabola in log N per budget; regress log N at the vertices on log C."""
    vertices = []
    for budget in SYNTHETIC_BUDGETS:
        mask = c == budget
        k2, k1, _ = np.polyfit(np.log(n[mask]), np.log(observed[mask]), 2)
        vertices.append(-k1 / (2 * k2))
    slope, _ = np.polyfit(np.log(SYNTHETIC_BUDGETS), vertices, 1)
    return float(slope)


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    step = config.grid_step

    # 1. The closed form against a numeric search along each IsoFLOP curve.
    budgets = [10.0**e for e in range(18, 27)] + [GOPHER_FLOPS, config.flops]
    gap = max(abs(isoflop_search(c, k) / compute_optimal(c, **k)[0] - 1)
              for c in budgets for k in (PAPER, PAPER_TEX, REFIT))
    report(0.2)

    # 2. Refit the law to synthetic IsoFLOP runs drawn from the refit's constants.
    n, d, c, observed = synthetic_isoflops(rng, REFIT, config.sizes_per_budget, config.noise,
                                           config.span_decades)
    fit = refit(n, d, observed, step)
    report(0.9)

    # 3. The calculator, and Gopher's budget under both sets of constants.
    n_opt, d_opt = compute_optimal(config.flops, **REFIT)
    n_paper, d_paper = compute_optimal(config.flops, **PAPER)
    gopher = {name: dict(zip(("params", "tokens"), compute_optimal(GOPHER_FLOPS, **k)))
              for name, k in (("refit", REFIT), ("paper", PAPER), ("paper_tex", PAPER_TEX))}
    curve_n = n_opt * np.logspace(-1.5, 1.5, 31)
    curve = loss(curve_n, config.flops / (6 * curve_n), **REFIT)
    exponent = lambda k: k["beta"] / (k["alpha"] + k["beta"])  # noqa: E731
    report(1.0)

    return Result(
        checks=[
            check("closed-form N_opt vs IsoFLOP search, max relative gap", gap, "<=", 1e-3),
            check("refit |alpha - alpha_true| (synthetic IsoFLOP runs)",
                  abs(fit["alpha"] - REFIT["alpha"]), "<=", 0.02),
            check("refit |beta - beta_true| (synthetic IsoFLOP runs)",
                  abs(fit["beta"] - REFIT["beta"]), "<=", 0.02),
        ],
        metrics={
            "flops": config.flops,
            "optimal_params": n_opt,  # the calculator's answer, with the refit constants
            "optimal_tokens": d_opt,
            "tokens_per_param": d_opt / n_opt,
            "predicted_loss": float(loss(n_opt, d_opt, **REFIT)),
            "optimal_params_paper_constants": n_paper,
            "optimal_tokens_paper_constants": d_paper,
            "gopher_budget_params_refit": gopher["refit"]["params"],
            "gopher_budget_tokens_refit": gopher["refit"]["tokens"],
            "gopher_budget_params_paper": gopher["paper"]["params"],
            "gopher_budget_tokens_paper": gopher["paper"]["tokens"],
            "gopher_budget_params_paper_tex_digits": gopher["paper_tex"]["params"],
            "gopher_budget_tokens_paper_tex_digits": gopher["paper_tex"]["tokens"],
            "chinchilla_as_trained": "70B parameters, 1.4T tokens",
            "n_exponent_refit": exponent(REFIT),
            "n_exponent_paper": exponent(PAPER),
            "n_exponent_kaplan": KAPLAN_N_EXPONENT,
            "params_growth_per_10x_compute_refit": 10 ** exponent(REFIT),
            "params_growth_per_10x_compute_kaplan": 10**KAPLAN_N_EXPONENT,
            "synthetic_runs": int(n.size),
            "refit_alpha_beta": [fit["alpha"], fit["beta"]],
            "true_alpha_beta": [REFIT["alpha"], REFIT["beta"]],
            "approach2_exponent_of_synthetic_runs": isoflop_exponent(n, c, observed),
        },
        charts=[
            Chart(f"IsoFLOP curve at C = {config.flops:.3g}: loss vs log10 N (refit constants)",
                  "line", x=[float(v) for v in np.log10(curve_n)], y=[float(v) for v in curve]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
