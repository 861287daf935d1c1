"""Low-rank adapters on a frozen weight: h = W0 x + (alpha / r) B A x.

Shows the mechanics and the central claim of "LoRA: Low-Rank Adaptation of Large Language Models"
(Hu et al., 2021, arXiv 2106.09685). A frozen layer W0 is fine-tuned towards W0 + dW, where the
task's update dW has low rank. Only A (r x k) and B (d x r) are trained; with B = 0 at init the
adapted layer starts exactly at the base layer; after training, B A merges into W0 for zero extra
inference latency; and a rank r at least the update's true rank recovers dW with r (d + k)
trainable parameters instead of d k, while a smaller rank is stuck at the Eckart-Young limit.

But: one linear layer on synthetic Gaussian inputs, noiseless targets and an exactly low-rank
update; no transformer, no language task, no dropout and no choice of which matrices to adapt
(the paper adapts W_q and W_v of GPT-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "A frozen weight plus a trainable low-rank product B A fits a low-rank update "
    "exactly, starts as the base model, and merges into one matrix."
)
EQUATIONS = (
    "h = W0 x + (alpha / r) B A x,  B = 0 at init  (Eq. 3)",
    "best rank-r error = sqrt(sum_(i>r) sigma_i^2)  (Eckart-Young)",
)


@dataclass
class Config:
    """Hyper-parameters of the layer, the task and the LoRA fit (PEFT defaults where they exist)."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    d_out: int = setting(256, "d: rows of W0", low=1)
    d_in: int = setting(256, "k: columns of W0", low=1)
    true_rank: int = setting(4, "rank of the task's update dW", low=1)
    ranks: tuple[int, ...] = setting((1, 2, 4, 8), "LoRA ranks r to fit", low=1)
    lora_alpha: float = setting(
        8.0, "alpha: the update is scaled by alpha / r (PEFT default 8)", above=0.0)
    n_samples: int = setting(512, "fine-tuning inputs x", low=1)
    steps: int = setting(300, "Adam steps per rank", low=1)
    learning_rate: float = setting(0.03, "Adam step size, cosine-decayed to 0", above=0.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out, full = [], min(self.d_out, self.d_in)
        if self.true_rank > full:
            out.append(f"true_rank: {self.true_rank} exceeds min(d_out, d_in) = {full}")
        if any(r > full for r in self.ranks):
            out.append(f"ranks: every rank must be at most min(d_out, d_in) = {full}")
        if max(self.ranks) < self.true_rank:
            out.append(f"ranks: at least one rank must reach true_rank = {self.true_rank}")
        return out

# --quick: two ranks, one below and one at the true rank. Applied before --set, so --set wins.
QUICK = {"ranks": (2, 4)}


def adapter_forward(X, W0, A, B, scale):
    """h = W0 x + scale * B A x for each row x of X (eq. 3): (n, k) -> (n, d), never forming B A."""
    return X @ W0.T + scale * (X @ A.T) @ B.T


def merged_forward(X, W0, A, B, scale):
    """The same layer with the adapter merged into one weight, W = W0 + scale * B A."""
    return X @ (W0 + scale * B @ A).T


def init_adapter(rng, r, d_out, d_in):
    """A ~ kaiming-uniform (a = sqrt 5) as in PEFT, i.e. U(-1/sqrt(k), 1/sqrt(k)); B = 0 (Sec. 4.1)."""
    bound = 1 / math.sqrt(d_in)
    return rng.uniform(-bound, bound, size=(r, d_in)), np.zeros((d_out, r))


def loss_and_grads(A, B, X, Y, base, scale):
    """Mean squared error of the adapted layer and its gradients in A and B.

    base = X @ W0.T, the frozen layer's output, computed once since W0 never changes."""
    n, d = Y.shape
    XA = X @ A.T  # (n, r)
    residual = base + scale * XA @ B.T - Y  # (n, d)
    grad_A = 2 * scale * (residual @ B).T @ X / (n * d)  # (r, k)
    grad_B = 2 * scale * residual.T @ XA / (n * d)  # (d, r)
    return float(np.mean(residual**2)), grad_A, grad_B


def gradient_check(rng, X, Y, W0, r: int, scale: float, h: float = 1e-6) -> float:
    """Relative error of loss_and_grads' gradients in A and B against central differences, at a
    random A and B (both non-zero, so each gradient is). Adam hides a wrong gradient scale, so
    the training checks alone would not see one."""
    A = rng.normal(size=(r, X.shape[1])) / math.sqrt(X.shape[1])
    B = rng.normal(size=(W0.shape[0], r)) / math.sqrt(r)
    base = X @ W0.T
    _, grad_A, grad_B = loss_and_grads(A, B, X, Y, base, scale)
    numeric, analytic = [], []
    for param, grad in ((A, grad_A), (B, grad_B)):
        for flat in rng.choice(param.size, min(30, param.size), replace=False):
            idx = np.unravel_index(flat, param.shape)
            saved = param[idx]
            param[idx] = saved + h
            up = loss_and_grads(A, B, X, Y, base, scale)[0]
            param[idx] = saved - h
            down = loss_and_grads(A, B, X, Y, base, scale)[0]
            param[idx] = saved
            numeric.append((up - down) / (2 * h))
            analytic.append(grad[idx])
    numeric, analytic = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric - analytic)
                 / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


def fit_adapter(rng, X, Y, W0, r, config: Config):
    """Train A, B with Adam on the mean squared error of the adapted layer; (A, B, loss per step)."""
    A, B = init_adapter(rng, r, W0.shape[0], W0.shape[1])
    scale = config.lora_alpha / r
    base = X @ W0.T  # (n, d)
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in (A, B)]
    losses = []
    for t in range(1, config.steps + 1):
        loss, grad_A, grad_B = loss_and_grads(A, B, X, Y, base, scale)
        losses.append(loss)
        lr = config.learning_rate * 0.5 * (1 + math.cos(math.pi * t / config.steps))
        for i, (param, grad) in enumerate(((A, grad_A), (B, grad_B))):
            m, v = moments[i]
            m[:] = 0.9 * m + 0.1 * grad
            v[:] = 0.999 * v + 0.001 * grad**2
            param -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return A, B, losses


def run(config: Config, progress: Progress | None = None) -> Result:
    progress = progress or no_progress
    rng = np.random.default_rng(config.seed)
    d, k, q = config.d_out, config.d_in, config.true_rank

    W0 = rng.normal(size=(d, k)) / math.sqrt(k)  # the frozen "pre-trained" weight
    U = np.linalg.qr(rng.normal(size=(d, q)))[0]
    V = np.linalg.qr(rng.normal(size=(k, q)))[0]
    sigma = np.linspace(1.0, 0.4, q)  # singular values of the update
    dW = U @ np.diag(sigma) @ V.T  # (d, k), rank q
    X = rng.normal(size=(config.n_samples, k))  # isotropic inputs
    Y = X @ (W0 + dW).T  # the fine-tuning targets
    X_test = rng.normal(size=(64, k))

    # B = 0 at init: the adapted layer's output is exactly the base layer's.
    A0, B0 = init_adapter(rng, max(config.ranks), d, k)
    init_change = float(np.max(np.abs(adapter_forward(X_test, W0, A0, B0, 1.0) - X_test @ W0.T)))

    grad_error = gradient_check(rng, X[:256], Y[:256], W0, 3, config.lora_alpha / 3)

    errors, bounds, fractions, loss_curves = {}, {}, {}, {}
    merge_error = 0.0
    for i, r in enumerate(config.ranks):
        A, B, losses = fit_adapter(rng, X, Y, W0, r, config)
        scale = config.lora_alpha / r
        errors[r] = float(np.linalg.norm(scale * B @ A - dW) / np.linalg.norm(dW))
        bounds[r] = float(np.sqrt(np.sum(sigma[r:] ** 2)) / np.linalg.norm(dW))  # Eckart-Young
        fractions[r] = (A.size + B.size) / W0.size  # r (d + k) / (d k)
        loss_curves[r] = losses
        merge_error = max(merge_error, float(np.max(np.abs(
            merged_forward(X_test, W0, A, B, scale) - adapter_forward(X_test, W0, A, B, scale)))))
        progress((i + 1) / len(config.ranks))

    enough = [r for r in config.ranks if r >= q]
    too_small = [r for r in config.ranks if r < q]
    checks = [
        check("gradients in A and B vs finite differences (relative error)", grad_error,
              "<=", 1e-6),
        check("max |h - W0 x| with B = 0 at init", init_change, "==", 0.0),
        check("max |merged - adapter output| after training", merge_error, "<=", 1e-12),
        check(f"worst |s BA - dW| / |dW| for r >= {q}", max(errors[r] for r in enough), "<=", 1e-2),
    ]
    if too_small:
        checks.append(check(f"worst error / Eckart-Young bound for r < {q}",
                            max(errors[r] / bounds[r] for r in too_small), "<=", 1.05))
    shown = enough[0]
    return Result(
        checks=checks,
        metrics={
            "layer": f"{d} x {k}, update rank {q}",
            "ranks": list(config.ranks),
            "relative error |s BA - dW| / |dW| per rank": [errors[r] for r in config.ranks],
            "Eckart-Young bound per rank": [bounds[r] for r in config.ranks],
            "trainable parameters per rank": [r * (d + k) for r in config.ranks],
            "full fine-tuning parameters": d * k,
            "trainable fraction per rank": [fractions[r] for r in config.ranks],
        },
        charts=[
            Chart(f"training loss, r = {shown}", "line", x=[float(t) for t in range(len(loss_curves[shown]))],
                  y=loss_curves[shown]),
            Chart("relative error of the learned update per rank", "bars",
                  labels=[f"r = {r}" for r in config.ranks], y=[errors[r] for r in config.ranks]),
            Chart("trainable fraction of d x k per rank", "bars",
                  labels=[f"r = {r}" for r in config.ranks], y=[fractions[r] for r in config.ranks]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
