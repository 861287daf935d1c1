"""A sparsely-gated mixture of experts: noisy top-k gating, load balancing, and the Switch loss.

Shows the gating network of "Outrageously Large Neural Networks: The Sparsely-Gated
Mixture-of-Experts Layer" (Shazeer et al., arXiv 1701.06538): each token is sent to only k of E
small expert networks, chosen by a noisy top-k gate, and two auxiliary losses (importance and
load) keep the experts evenly used. It also implements the auxiliary loss of "Switch Transformers:
Scaling to Trillion Parameter Models with Simple and Efficient Sparsity" (Fedus, Zoph and Shazeer,
arXiv 2101.03961) and trains a top-1 Switch router with it.

The task is a regression with hidden regimes: inputs come in clusters and each cluster has its own
linear map. A mixture whose experts are each as small as a dense network's "active" share fits it
far better than the dense network that costs the same per token, because the gate learns to send
each regime to its own experts. Without a balancing loss the gate tends to favour a few experts
(reported, not asserted: how badly it collapses depends on the seed).

But: one MoE layer on a toy regression, not a language model; no expert capacity limit or token
dropping, no expert parallelism across devices, no router z-loss; full-batch numpy backprop.
"""

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "A noisy top-k gate sends each token to k experts; importance and load losses "
    "keep every expert in use; the sparse mixture beats a dense network of equal "
    "active compute."
)
EQUATIONS = (
    "H(x)_i = (x W_g)_i + N(0,1) Softplus((x W_noise)_i);  G(x) = Softmax(KeepTopK(H(x), k))  (Eqs. 3-5)",
    "L_importance = w CV(sum_x G(x))^2;  L_load = w CV(sum_x P(x, i))^2  (Eqs. 6-11)",
    "Switch: aux = alpha N sum_i f_i P_i  (Switch Transformers Eqs. 4-6)",
)


@dataclass
class Config:
    """Hyper-parameters of the MoE demo."""

    seed: int = 0
    quick: bool = False  # see QUICK
    n_experts: int = setting(8, "E, also the number of hidden regimes in the data", low=2)
    k: int = setting(2, "experts per token (Shazeer's top-k)", low=1)
    d_in: int = setting(16, "input width", low=1)
    d_out: int = setting(4, "output width", low=1)
    expert_hidden: int = setting(
        8, "hidden units of one expert; the dense baseline gets k times as many", low=1)
    n_train: int = setting(4096, "training examples (the gradient checks use 128)", low=128)
    n_test: int = setting(2048, "held-out examples", low=1)
    steps: int = setting(3000, "Adam steps", low=1)
    batch: int = setting(256, "examples per step", low=1)
    lr: float = setting(1e-2, "Adam learning rate", above=0.0)
    w_importance: float = setting(0.1, "weight of the importance loss (paper: 0.1)", low=0.0)
    w_load: float = setting(0.1, "weight of the load loss (paper: 0.1)", low=0.0)
    switch_alpha: float = setting(
        5e-2, "Switch auxiliary-loss weight (paper: 1e-2; this toy router needs 5e-2)", low=0.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return ([f"k: {self.k} must be below n_experts = {self.n_experts} (the load loss needs "
                 "the (k+1)-th logit)"] if self.k >= self.n_experts else [])

# --quick: fewer steps and samples, same checks; applied before --set, so --set wins.
QUICK = {"steps": 500, "n_train": 2048, "n_test": 1024}


# ---------------------------------------------------------------------------------------------
# Small numerical helpers


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


_erf = np.frompyfunc(math.erf, 1, 1)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Phi(z), the standard normal CDF (numpy has no erf; math.erf per element is fast enough)."""
    return 0.5 * (1.0 + _erf(z / math.sqrt(2.0)).astype(float))


def normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def cv_squared(v: np.ndarray) -> float:
    """CV(v)^2 = variance / mean^2, the balance measure of Shazeer's eqs. 7 and 10 (0 = even)."""
    return float(v.var() / v.mean() ** 2)


def cv_squared_grad(v: np.ndarray) -> np.ndarray:
    """d CV^2 / dv for CV^2 = mean((v - m)^2) / m^2."""
    n, m = v.size, v.mean()
    return 2.0 / (n * m * m) * ((v - m) - v.var() / m)


# ---------------------------------------------------------------------------------------------
# The gate: noisy top-k (Shazeer, section 2.1) and its balancing losses (appendix A)


def noisy_top_k_gate(x, w_gate, w_noise, k, noise):
    """Gates (B, E) with exactly k non-zero entries per row, and what backprop needs.

    H(x)_i = (x W_g)_i + noise_i * Softplus((x W_noise)_i)          (eq. 4)
    G(x) = Softmax(KeepTopK(H(x), k))                                  (eq. 3)
    `noise` is (B, E) standard normal draws, or None at evaluation time.
    """
    clean = x @ w_gate  # (B, E)
    raw = x @ w_noise  # (B, E)
    std = softplus(raw) + 1e-2  # (B, E); the small floor keeps Phi's argument finite
    noisy = clean + noise * std if noise is not None else clean  # (B, E)
    order = np.argsort(-noisy, axis=1, kind="stable")  # (B, E), descending
    top = order[:, :k]  # (B, k) indices of the kept experts
    kept = np.take_along_axis(noisy, top, axis=1)  # (B, k)
    g = np.exp(kept - kept.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)  # (B, k), softmax over the kept logits only
    gates = np.zeros_like(noisy)
    np.put_along_axis(gates, top, g, axis=1)  # (B, E)
    cache = dict(x=x, clean=clean, raw=raw, std=std, noisy=noisy, order=order, top=top, g=g,
                 noise=noise)
    return gates, cache


def load_probabilities(cache, k):
    """P(x, i) of eq. 9: the chance expert i stays in the top k under a new draw of its noise.

    kth_excluding(H(x), k, i) is the k-th largest noisy logit among the others: the (k+1)-th
    overall when i is itself in the top k, else the k-th.
    """
    order, noisy = cache["order"], cache["noisy"]
    rows = np.arange(noisy.shape[0])[:, None]
    kth = noisy[rows[:, 0], order[:, k - 1]][:, None]  # (B, 1)
    kth1 = noisy[rows[:, 0], order[:, k]][:, None]  # (B, 1)
    in_top = np.zeros(noisy.shape, dtype=bool)
    np.put_along_axis(in_top, cache["top"], True, axis=1)
    threshold = np.where(in_top, kth1, kth)  # (B, E)
    # which expert's noisy logit is the threshold, for the gradient
    threshold_from = np.where(in_top, order[:, k][:, None], order[:, k - 1][:, None])  # (B, E)
    z = (cache["clean"] - threshold) / cache["std"]  # (B, E)
    return normal_cdf(z), z, threshold_from


def switch_loss(router_probs: np.ndarray, chosen: np.ndarray) -> float:
    """Switch Transformer eqs. 4-6 divided by alpha: N * sum_i f_i * P_i (1.0 when uniform).

    f_i: fraction of tokens whose top-1 expert is i; P_i: mean router probability of expert i.
    """
    n_tokens, n = router_probs.shape
    f = np.bincount(chosen, minlength=n) / n_tokens  # (E,)
    p = router_probs.mean(axis=0)  # (E,)
    return float(n * np.sum(f * p))


# ---------------------------------------------------------------------------------------------
# Experts and the mixture


def init_mlp(rng, d_in, hidden, d_out):
    return dict(w1=rng.normal(0, 1 / math.sqrt(d_in), (d_in, hidden)), b1=np.zeros(hidden),
                w2=rng.normal(0, 1 / math.sqrt(hidden), (hidden, d_out)), b2=np.zeros(d_out))


def mlp_forward(p, x):
    h = np.maximum(x @ p["w1"] + p["b1"], 0.0)  # (n, hidden)
    return h @ p["w2"] + p["b2"], h  # (n, d_out)


def mlp_backward(p, x, h, dout):
    dh = (dout @ p["w2"].T) * (h > 0)
    return dict(w1=x.T @ dh, b1=dh.sum(0), w2=h.T @ dout, b2=dout.sum(0)), dh @ p["w1"].T


EXPERT_KEYS = ("w1", "b1", "w2", "b2")


def init_experts(rng, cfg: Config) -> dict:
    """The E experts' parameters, stacked: w1 (E, d_in, h), b1 (E, h), w2 (E, h, o), b2 (E, o)."""
    experts = [init_mlp(rng, cfg.d_in, cfg.expert_hidden, cfg.d_out) for _ in range(cfg.n_experts)]
    return {name: np.stack([e[name] for e in experts]) for name in EXPERT_KEYS}


def experts_forward(params, x):
    """Every expert on every token, (E, B, d_out) and hidden (E, B, h). Training uses this and
    masks by the gates: the same numbers as routing each token to its k experts (a zero gate
    contributes exactly 0), and at this size numpy is faster dense. `moe_predict` routes sparsely."""
    h = np.maximum(x[None] @ params["w1"] + params["b1"][:, None], 0.0)  # (E, B, h)
    return h @ params["w2"] + params["b2"][:, None], h


def experts_backward(params, x, h, dout):
    """Gradients of the stacked expert parameters, given d loss / d output (E, B, d_out)."""
    dh = (dout @ params["w2"].transpose(0, 2, 1)) * (h > 0)  # (E, B, h)
    return dict(w1=x.T[None] @ dh, b1=dh.sum(axis=1),
                w2=h.transpose(0, 2, 1) @ dout, b2=dout.sum(axis=1))


def init_moe(rng, cfg: Config):
    # Shazeer initialises both gate matrices to zero: no signal, only noise, at the start.
    return dict(w_gate=np.zeros((cfg.d_in, cfg.n_experts)),
                w_noise=np.zeros((cfg.d_in, cfg.n_experts)), **init_experts(rng, cfg))


def expert(params, e):
    return {name: params[name][e] for name in EXPERT_KEYS}


def importance_loss(gates: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
    """w_importance * CV(Importance(X))^2 (eqs. 6-7) and its gradient in the gates (B, E)."""
    importance = gates.sum(axis=0)  # (E,)  Importance(X), eq. 6
    return (weight * cv_squared(importance),
            np.broadcast_to(weight * cv_squared_grad(importance)[None, :], gates.shape))


def load_loss(cache, k: int, weight: float):
    """w_load * CV(Load(X))^2 (eqs. 8-11) and its gradient, split into the parts that flow to
    the clean logits, the noise std and the noisy logit that sets each threshold: (loss, dclean,
    dstd, dnoisy), each gradient (B, E)."""
    p, z, threshold_from = load_probabilities(cache, k)
    load = p.sum(axis=0)  # (E,)  Load(X), eq. 10
    dp = weight * cv_squared_grad(load)[None, :] * normal_pdf(z) / cache["std"]  # (B, E)
    dnoisy = np.zeros_like(dp)
    n, n_exp = dp.shape
    rows = np.repeat(np.arange(n), n_exp)
    np.add.at(dnoisy, (rows, threshold_from.ravel()), -dp.ravel())
    return weight * cv_squared(load), dp, -dp * z, dnoisy


def moe_loss_and_grads(params, x, y, cfg: Config, noise, w_importance: float, w_load: float):
    """Loss and gradients of the noisy top-k MoE with the two balancing losses at these weights
    (0 turns one off).

    y_hat = sum_i G(x)_i E_i(x) (eq. 1), computed only for the experts each token is sent to.
    """
    gates, cache = noisy_top_k_gate(x, params["w_gate"], params["w_noise"], cfg.k, noise)
    out, h = experts_forward(params, x)  # (E, B, d_out), (E, B, h)
    pred = (gates.T[:, :, None] * out).sum(axis=0)  # eq. 1; zero gates add nothing
    err = pred - y
    mse = float(np.mean(err**2))
    dpred = 2.0 * err / err.size  # (B, d_out)

    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dgates = (dpred[None] * out).sum(axis=2).T  # (B, E); only the kept entries are used
    grads.update(experts_backward(params, x, h, gates.T[:, :, None] * dpred[None]))

    loss = mse
    dclean = np.zeros_like(gates)
    dstd = np.zeros_like(gates)
    dnoisy = np.zeros_like(gates)
    if w_importance:
        value, d = importance_loss(gates, w_importance)
        loss += value
        dgates = dgates + d
    if w_load:
        value, d_clean, d_std, d_noisy = load_loss(cache, cfg.k, w_load)
        loss += value
        dclean += d_clean
        dstd += d_std
        dnoisy += d_noisy

    # softmax over the kept logits: d kept = g * (d g - sum(g * d g))
    g = cache["g"]
    dg = np.take_along_axis(dgates, cache["top"], axis=1)  # (B, k)
    dkept = g * (dg - np.sum(g * dg, axis=1, keepdims=True))
    np.put_along_axis(dnoisy, cache["top"], np.take_along_axis(dnoisy, cache["top"], 1) + dkept, 1)
    dclean += dnoisy
    if noise is not None:
        dstd += dnoisy * noise
    draw = dstd * sigmoid(cache["raw"])
    grads["w_gate"] = x.T @ dclean
    grads["w_noise"] = x.T @ draw
    return loss, mse, grads


def gradient_check(loss_and_grads, params, names, rng, n_coords: int = 40,
                   h: float = 1e-6) -> float:
    """Relative error of `loss_and_grads(params)`'s gradients of the arrays `names` against
    central differences of its loss, on `n_coords` random entries of each array."""
    _, _, grads = loss_and_grads(params)
    numeric, analytic = [], []
    for name in names:
        w = params[name]
        for flat in rng.choice(w.size, min(n_coords, w.size), replace=False):
            idx = np.unravel_index(flat, w.shape)
            saved = w[idx]
            w[idx] = saved + h
            up = loss_and_grads(params)[0]
            w[idx] = saved - h
            down = loss_and_grads(params)[0]
            w[idx] = saved
            numeric.append((up - down) / (2 * h))
            analytic.append(grads[name][idx])
    numeric, analytic = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric - analytic)
                 / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


def moe_predict(params, x, cfg: Config):
    gates, _ = noisy_top_k_gate(x, params["w_gate"], params["w_noise"], cfg.k, None)
    pred = np.zeros((x.shape[0], cfg.d_out))
    for e in range(cfg.n_experts):
        rows = np.nonzero(gates[:, e])[0]
        if rows.size:
            pred[rows] += gates[rows, e, None] * mlp_forward(expert(params, e), x[rows])[0]
    return pred, gates


# ---------------------------------------------------------------------------------------------
# The Switch layer: top-1 routing with the auxiliary loss alpha * N * sum f_i P_i


def init_switch(rng, cfg: Config):
    return dict(w_router=np.zeros((cfg.d_in, cfg.n_experts)), **init_experts(rng, cfg))


def switch_route(params, x, jitter):
    logits = x @ params["w_router"]  # (B, E)
    if jitter is not None:
        logits = logits + jitter  # exploration noise, like the router jitter Switch uses
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)  # (B, E)
    return probs, np.argmax(probs, axis=1)


def switch_loss_and_grads(params, x, y, cfg: Config, jitter):
    n, n_exp = x.shape[0], cfg.n_experts
    probs, chosen = switch_route(params, x, jitter)
    routed = np.zeros_like(probs)
    routed[np.arange(n), chosen] = 1.0  # (B, E): one expert per token
    out, h = experts_forward(params, x)
    pred = ((routed * probs).T[:, :, None] * out).sum(axis=0)  # y = p_i(x) E_i(x), eq. 2
    err = pred - y
    mse = float(np.mean(err**2))
    dpred = 2.0 * err / err.size
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dprobs = routed * (dpred[None] * out).sum(axis=2).T
    grads.update(experts_backward(params, x, h, (routed * probs).T[:, :, None] * dpred[None]))
    aux = switch_loss(probs, chosen)
    # f_i is a count (no gradient); P_i = mean_x p_i(x), so d aux / d p_i(x) = N f_i / n
    f = np.bincount(chosen, minlength=n_exp) / n
    dprobs += cfg.switch_alpha * n_exp * f[None, :] / n
    dlogits = probs * (dprobs - np.sum(probs * dprobs, axis=1, keepdims=True))
    grads["w_router"] = x.T @ dlogits
    return mse + cfg.switch_alpha * aux, mse, grads


def switch_predict(params, x, cfg: Config):
    probs, chosen = switch_route(params, x, None)
    pred = np.zeros((x.shape[0], cfg.d_out))
    for e in range(cfg.n_experts):
        rows = np.nonzero(chosen == e)[0]
        if rows.size:
            pred[rows] = probs[rows, e, None] * mlp_forward(expert(params, e), x[rows])[0]
    return pred, chosen


# ---------------------------------------------------------------------------------------------
# Data and training


def make_regimes(rng, cfg: Config, n: int, centers, maps):
    """x drawn around one of E cluster centres; y = A_r x + b_r for its regime r."""
    regime = rng.integers(0, cfg.n_experts, n)
    x = centers[regime] + rng.normal(0, 1.0, (n, cfg.d_in))  # (n, d_in)
    a, b = maps
    y = np.einsum("nd,ndo->no", x, a[regime]) + b[regime]  # (n, d_out)
    return x, y + rng.normal(0, 0.01, y.shape)


class Adam:
    def __init__(self, params, lr):
        self.lr, self.t = lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params, grads):
        self.t += 1
        for k, g in grads.items():
            self.m[k] = 0.9 * self.m[k] + 0.1 * g
            self.v[k] = 0.999 * self.v[k] + 0.001 * g * g
            m_hat = self.m[k] / (1 - 0.9**self.t)
            v_hat = self.v[k] / (1 - 0.999**self.t)
            params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def train(params, loss_and_grads, x, y, cfg: Config, rng, report):
    opt = Adam(params, cfg.lr)
    losses = []
    for step in range(cfg.steps):
        idx = rng.integers(0, x.shape[0], cfg.batch)
        _, mse, grads = loss_and_grads(params, x[idx], y[idx], rng)
        opt.step(params, grads)
        losses.append(mse)
        if step % 100 == 0:
            report(step / cfg.steps)
    return losses


def hard_load(gates_or_choice: np.ndarray, n_experts: int) -> np.ndarray:
    """Tokens each expert actually receives (a count, not Shazeer's smooth estimate)."""
    if gates_or_choice.ndim == 2:
        return (gates_or_choice > 0).sum(axis=0).astype(float)
    return np.bincount(gates_or_choice, minlength=n_experts).astype(float)


def uniform_switch_loss(n_experts: int, n_tokens: int) -> tuple[float, float]:
    """Switch loss / alpha for perfectly even routing (1.0) and for a collapsed router (about N)."""
    tokens = np.arange(n_tokens)
    logits = np.zeros((n_tokens, n_experts))
    logits[tokens, tokens % n_experts] = 1.0  # each expert preferred by exactly 1/N of tokens
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    even = switch_loss(probs, probs.argmax(axis=1))
    collapsed_logits = np.zeros((n_tokens, n_experts))
    collapsed_logits[:, 0] = 10.0
    probs = np.exp(collapsed_logits) / np.exp(collapsed_logits).sum(axis=1, keepdims=True)
    return even, switch_loss(probs, probs.argmax(axis=1))


def run(config: Config, progress: Progress | None = None) -> Result:
    cfg = config
    report = progress or no_progress
    rng = np.random.default_rng(cfg.seed)
    centers = rng.normal(0, 3.0, (cfg.n_experts, cfg.d_in))  # (E, d_in)
    maps = (rng.normal(0, 1 / math.sqrt(cfg.d_in), (cfg.n_experts, cfg.d_in, cfg.d_out)),
            rng.normal(0, 1.0, (cfg.n_experts, cfg.d_out)))
    x_train, y_train = make_regimes(rng, cfg, cfg.n_train, centers, maps)
    x_test, y_test = make_regimes(rng, cfg, cfg.n_test, centers, maps)
    # Standardise targets so that MSEs read as a fraction of the target variance.
    y_mean, y_std = y_train.mean(0), y_train.std(0)
    y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std

    def stage(i):
        return lambda f: report((i + f) / 6)

    # The hand-written gradients of the gate, both balancing losses included, and of the Switch
    # router, against finite differences, at random (not zero) gate weights and fixed noise.
    probe = init_moe(rng, cfg)
    probe["w_gate"] = rng.normal(0, 0.3, probe["w_gate"].shape)
    probe["w_noise"] = rng.normal(0, 0.3, probe["w_noise"].shape)
    xb, yb = x_train[:128], y_train[:128]
    noise = rng.standard_normal((128, cfg.n_experts))
    gate_grad_error = gradient_check(
        lambda p: moe_loss_and_grads(p, xb, yb, cfg, noise, cfg.w_importance, cfg.w_load),
        probe, ("w_gate", "w_noise", "w1", "b2"), rng)
    probe_switch = init_switch(rng, cfg)
    probe_switch["w_router"] = rng.normal(0, 0.3, probe_switch["w_router"].shape)
    jitter = rng.normal(0, 0.1, (128, cfg.n_experts))
    switch_grad_error = gradient_check(
        lambda p: switch_loss_and_grads(p, xb, yb, cfg, jitter), probe_switch,
        ("w_router", "w2"), rng)

    # The ablation: the same mixture trained with both balancing losses, each one alone, none.
    weights = {"both": (cfg.w_importance, cfg.w_load), "importance only": (cfg.w_importance, 0.0),
               "load only": (0.0, cfg.w_load), "none": (0.0, 0.0)}
    runs = {}
    for i, (variant, (w_imp, w_load)) in enumerate(weights.items()):
        params = init_moe(rng, cfg)
        runs[variant] = params
        train(params, lambda p, xb, yb, r, wi=w_imp, wl=w_load: moe_loss_and_grads(
            p, xb, yb, cfg, r.standard_normal((xb.shape[0], cfg.n_experts)), wi, wl),
            x_train, y_train, cfg, rng, stage(i))

    switch = init_switch(rng, cfg)
    train(switch, lambda p, xb, yb, r: switch_loss_and_grads(
        p, xb, yb, cfg, r.normal(0, 0.1, (xb.shape[0], cfg.n_experts))),
        x_train, y_train, cfg, rng, stage(4))

    # Dense baseline with the same active compute: one MLP k times as wide as one expert.
    dense = init_mlp(rng, cfg.d_in, cfg.k * cfg.expert_hidden, cfg.d_out)

    def dense_loss_and_grads(p, xb, yb, r):
        out, h = mlp_forward(p, xb)
        err = out - yb
        return None, float(np.mean(err**2)), mlp_backward(p, xb, h, 2 * err / err.size)[0]

    train(dense, dense_loss_and_grads, x_train, y_train, cfg, rng, stage(5))

    test_gates = {variant: moe_predict(params, x_test, cfg) for variant, params in runs.items()}
    pred, gates = test_gates["both"]
    mse_moe = float(np.mean((pred - y_test) ** 2))
    loads = {variant: hard_load(g, cfg.n_experts) for variant, (_, g) in test_gates.items()}
    cv2 = {variant: cv_squared(load) for variant, load in loads.items()}
    mse = {variant: float(np.mean((p - y_test) ** 2)) for variant, (p, _) in test_gates.items()}
    pred_switch, chosen = switch_predict(switch, x_test, cfg)
    mse_switch = float(np.mean((pred_switch - y_test) ** 2))
    mse_dense = float(np.mean((mlp_forward(dense, x_test)[0] - y_test) ** 2))

    # Gate invariants, on noisy gates of a training batch (as during training) and on test gates.
    noisy_gates, _ = noisy_top_k_gate(x_train, runs["both"]["w_gate"], runs["both"]["w_noise"],
                                      cfg.k, rng.standard_normal((cfg.n_train, cfg.n_experts)))
    all_gates = np.vstack([noisy_gates, gates])
    wrong_count = int(np.sum((all_gates > 0).sum(axis=1) != cfg.k))
    sum_error = float(np.max(np.abs(all_gates.sum(axis=1) - 1.0)))

    even, collapsed = uniform_switch_loss(cfg.n_experts, 64 * cfg.n_experts)
    load_switch = hard_load(chosen, cfg.n_experts)
    probs_switch, _ = switch_route(switch, x_test, None)
    report(1.0)

    labels = [f"E{e}" for e in range(cfg.n_experts)]
    share = lambda load: [round(float(v / load.sum()), 4) for v in load]  # noqa: E731
    return Result(
        checks=[
            check("finite-difference check of the gate's gradient, both balancing losses "
                  "(relative error)", gate_grad_error, "<=", 1e-6),
            check("finite-difference check of the Switch router's gradient (relative error)",
                  switch_grad_error, "<=", 1e-6),
            check(f"tokens without exactly k={cfg.k} non-zero gates", wrong_count, "==", 0),
            check("max |sum of gates - 1|", sum_error, "<=", 1e-12),
            check("|Switch loss / alpha - 1| under uniform routing", abs(even - 1.0), "<=", 1e-12),
            check("CV^2 of expert load, importance + load losses", cv2["both"], "<=", 0.1),
            check("CV^2 of expert load, Switch loss (top-1)", cv_squared(load_switch), "<=", 0.1),
            check("ablation: CV^2 of load with no balancing loss / with both", cv2["none"]
                  / max(cv2["both"], 1e-12), ">=", 5.0),
            # Shazeer's reason for the load loss: equal importance (gate mass) does not mean
            # equal token counts. Without it the counts spread out.
            check("ablation: CV^2 of load with the importance loss only / with both",
                  cv2["importance only"] / max(cv2["both"], 1e-12), ">=", 3.0),
            check("test MSE, top-k MoE / dense of equal active compute",
                  mse_moe / mse_dense, "<=", 0.5),
        ],
        metrics={
            "test_mse_moe_balanced": mse_moe,
            "test_mse_switch": mse_switch,
            "test_mse_dense": mse_dense,
            **{f"ablation {v}: cv2_load / test_mse": [cv2[v], mse[v]] for v in runs},
            "cv2_load_switch": cv_squared(load_switch),
            "switch_loss_collapsed_router": collapsed,
            "switch_loss_trained_router": switch_loss(probs_switch, chosen),
            **{f"load_share {v}": share(loads[v]) for v in runs},
            "active_params_per_token_moe": cfg.k * (cfg.d_in * cfg.expert_hidden
                                                    + cfg.expert_hidden * cfg.d_out),
            "active_params_per_token_dense": cfg.k * cfg.expert_hidden * (cfg.d_in + cfg.d_out),
            "steps": cfg.steps,
            "gate_gradient_check": gate_grad_error,
            "switch_gradient_check": switch_grad_error,
        },
        charts=[
            *[Chart(f"tokens per expert (top-{cfg.k}), balancing: {v}", "bars",
                    y=[float(x) for x in loads[v]], labels=labels) for v in runs],
            Chart("tokens per expert, Switch loss (top-1)", "bars",
                  y=[float(v) for v in load_switch], labels=labels),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
