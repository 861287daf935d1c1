"""The selective state-space scan of Mamba: a recurrence whose step size depends on the input.

Shows the core of "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (Gu and Dao,
2023, arXiv 2312.00752). The S6 layer (Algorithm 2) discretises a diagonal SSM with an
input-dependent step Delta_t, and input-dependent B_t, C_t:
    h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t,   y_t = C_t h_t + D x_t      (eqs. 2a-2b, 4)
Checks: (1) the recurrence equals its closed form
    h_t = sum_{s<=t} exp(A sum_{r=s+1..t} Delta_r) Delta_s B_s x_s,
which is also the "attention-like" matrix shown as a heatmap; (2) selection: when the Delta
projection reads a "filler" direction of the embedding, Delta = 0 on filler tokens, so they leave
the state exactly unchanged, while the same layer with a fixed Delta (an LTI SSM such as S4) is
perturbed by them; (3) Theorem 1: with N = 1, A = -1, B = 1 and the exact ZOH rule, the selective
recurrence is the gated RNN h_t = (1 - g_t) h_{t-1} + g_t x_t with g_t = sigmoid(z_t).

But: one S6 layer with random (not trained) projections and a hand-set filler direction, in a
plain sequential Python loop; no convolution, gating branch, residual stack or hardware-aware
parallel scan, and no training on the selective-copying task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "An input-dependent step Delta lets a state-space scan ignore tokens (Delta = 0) "
    "and reduces to a gated RNN; the recurrence equals its closed form."
)
EQUATIONS = (
    "h_t = exp(Delta_t A) h_(t-1) + Delta_t B_t x_t;  y_t = C_t h_t + D x_t  (Eqs. 2a-2b, discretised)",
    "Delta_t = softplus(x_t W_Delta + b);  B_t = x_t W_B;  C_t = x_t W_C  (Algorithm 2)",
    "N = 1, A = -1, B = 1: h_t = (1 - g_t) h_(t-1) + g_t x_t, g_t = sigmoid(z_t)  (Theorem 1)",
)


@dataclass
class Config:
    """Sizes of the S6 layer and of the token sequence (mamba_simple defaults where they apply)."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    d_inner: int = setting(8, "D: channels, each with its own diagonal SSM", low=1)
    d_state: int = setting(16, "N: state size per channel (Mamba default 16)", low=1)
    seq_len: int = setting(512, "T: tokens in the random sequence of check (1)", low=1)
    vocab: int = setting(12, "content tokens of the filler experiment", low=1)
    n_content: int = setting(24, "content tokens in the filler experiment", low=1)
    filler_fraction: float = setting(
        0.5, "share of filler tokens once they are mixed in", above=0.0, below=1.0)
    dt_min: float = setting(
        0.001, "Delta is initialised log-uniform in [dt_min, dt_max]", above=0.0)
    dt_max: float = setting(0.1, "dt max", above=0.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return ([f"dt_max: {self.dt_max} is below dt_min = {self.dt_min}"]
                if self.dt_max < self.dt_min else [])

# --quick: a shorter sequence. Applied before --set, so --set wins.
QUICK = {"seq_len": 128}


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z), computed stably; exactly 0.0 when e^z underflows (z < -745)."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def selective_scan(x, delta, A, B, C, D, zoh_b=False):
    """The S6 recurrence, one step at a time; (y (T, D), states (T, D, N)).

    x, delta: (T, D); A: (D, N), negative; B, C: (T, N), shared across channels; D: (D,).
    B_bar = Delta B (Euler, as in the reference selective_scan_ref) or, with zoh_b, the exact
    zero-order hold (Delta A)^-1 (exp(Delta A) - 1) Delta B of eq. 4."""
    T, n_channels = x.shape
    h = np.zeros((n_channels, A.shape[1]))  # (D, N)
    states = np.empty((T, *h.shape))
    for t in range(T):
        dA = delta[t][:, None] * A  # (D, N)
        A_bar = np.exp(dA)
        B_bar = (A_bar - 1) / A * B[t] if zoh_b else delta[t][:, None] * B[t]  # (D, N)
        h = A_bar * h + B_bar * x[t][:, None]  # eq. 2a
        states[t] = h
    y = np.einsum("tdn,tn->td", states, C) + D * x  # eq. 2b, plus the skip connection
    return y, states


def closed_form_states(x, delta, A, B):
    """h_t = sum_{s<=t} exp(A (S_t - S_s)) Delta_s B_s x_s with S the running sum of Delta, (T, D, N)."""
    T = x.shape[0]
    S = np.cumsum(delta, axis=0)  # (T, D)
    inputs = (delta * x)[:, :, None] * B[:, None, :]  # (T, D, N): Delta_s B_s x_s
    states = np.empty((T, *A.shape))
    for t in range(T):
        decay = np.exp(A[None] * (S[t] - S[: t + 1])[:, :, None])  # (t+1, D, N)
        states[t] = np.sum(decay * inputs[: t + 1], axis=0)
    return states


def mixing_matrix(delta, A, B, C, channel):
    """M[t, s] with y_t = sum_s M[t, s] x_s for one channel: the scan as a causal 'attention' matrix."""
    S = np.cumsum(delta[:, channel])  # (T,)
    causal = np.tril(np.ones((len(S), len(S)), dtype=bool))
    gaps = np.where(causal, S[:, None] - S[None, :], 0.0)  # (T, T): sum of Delta over (s, t]
    decay = np.exp(gaps[:, :, None] * A[channel][None, None, :])  # (T, T, N)
    M = np.einsum("tn,tsn,sn->ts", C, decay, B) * delta[:, channel][None, :]
    return np.where(causal, M, 0.0)


class S6:
    """An S6 layer with random projections: Delta, B and C are functions of the input x_t."""

    def __init__(self, rng, config: Config):
        d, n = config.d_inner, config.d_state
        self.A = -np.tile(np.arange(1, n + 1, dtype=float), (d, 1))  # S4D-real init, A = -exp(A_log)
        self.W_B = rng.normal(size=(d, n)) / math.sqrt(d)
        self.W_C = rng.normal(size=(d, n)) / math.sqrt(d)
        self.W_dt = rng.normal(size=(d, d)) * 0.1 / math.sqrt(d)  # mamba_simple uses rank ceil(d_model/16)
        dt = np.exp(rng.uniform(math.log(config.dt_min), math.log(config.dt_max), size=d))
        self.b_dt = dt + np.log(-np.expm1(-dt))  # inverse softplus, so softplus(b_dt) = dt
        self.D = np.ones(d)

    def parameters(self, x):
        """(Delta, B, C) for inputs x of shape (T, D): the selection mechanism (Algorithm 2)."""
        return softplus(x @ self.W_dt + self.b_dt), x @ self.W_B, x @ self.W_C

    def __call__(self, x, fixed_delta=None):
        delta, B, C = self.parameters(x)
        if fixed_delta is not None:  # an LTI SSM: the same step for every token
            delta = np.broadcast_to(fixed_delta, delta.shape)
        return selective_scan(x, delta, self.A, B, C, self.D)


def run(config: Config, progress: Progress | None = None) -> Result:
    progress = progress or no_progress
    rng = np.random.default_rng(config.seed)
    layer = S6(rng, config)
    d = config.d_inner

    # (1) Recurrence == closed form, on a random sequence with Delta scaled up so that the state
    # both remembers and forgets over the sequence.
    x = rng.normal(size=(config.seq_len, d))
    delta, B, C = layer.parameters(x)
    delta = delta * 10
    y_scan, states_scan = selective_scan(x, delta, layer.A, B, C, layer.D)
    states_closed = closed_form_states(x, delta, layer.A, B)
    y_closed = np.einsum("tdn,tn->td", states_closed, C) + layer.D * x
    state_error = float(np.max(np.abs(states_scan - states_closed)))
    output_error = float(np.max(np.abs(y_scan - y_closed)))
    progress(0.5)

    # (2) Selection. The Delta projection reads a direction u of the embedding with a large
    # negative weight; content embeddings are orthogonal to u, and the filler token is u itself
    # (unit norm, like any other token), so its Delta pre-activation is about -1000 and softplus
    # underflows to exactly 0.0. Training on selective copying would learn a (softer) version.
    u = np.zeros(d)
    u[0] = 1.0
    embed = rng.normal(size=(config.vocab, d))
    embed[:, 0] = 0.0  # content tokens are orthogonal to u
    layer.W_dt[0, :] = -1000.0
    filler = u
    content = embed[rng.integers(config.vocab, size=config.n_content)]  # (n, D)
    n_fill = int(round(config.n_content * config.filler_fraction / (1 - config.filler_fraction)))
    is_filler = np.zeros(config.n_content + n_fill, dtype=bool)
    is_filler[rng.choice(len(is_filler), size=n_fill, replace=False)] = True
    mixed = np.empty((len(is_filler), d))
    mixed[~is_filler], mixed[is_filler] = content, filler

    _, states_content = layer(content)
    _, states_mixed = layer(mixed)
    filler_delta = float(np.max(layer.parameters(mixed)[0][is_filler]))
    filler_effect = float(np.max(np.abs(states_mixed[-1] - states_content[-1])))
    fixed = softplus(layer.b_dt)  # the LTI layer: Delta stays at its initial value for every token
    _, lti_content = layer(content, fixed_delta=fixed)
    _, lti_mixed = layer(mixed, fixed_delta=fixed)
    lti_effect = float(np.linalg.norm(lti_mixed[-1] - lti_content[-1]) / np.linalg.norm(lti_content[-1]))

    # (3) Theorem 1: N = 1, A = -1, B = 1, ZOH: h_t = (1 - g_t) h_{t-1} + g_t x_t, g_t = sigmoid(z_t).
    z = rng.normal(size=(64, d)) * 3
    x_gate = rng.normal(size=(64, d))
    _, h_scan = selective_scan(x_gate, softplus(z), -np.ones((d, 1)), np.ones((64, 1)), np.ones((64, 1)),
                               np.zeros(d), zoh_b=True)
    gate = 1 / (1 + np.exp(-z))
    h, h_rnn = np.zeros(d), []
    for t in range(64):
        h = (1 - gate[t]) * h + gate[t] * x_gate[t]
        h_rnn.append(h)
    gating_error = float(np.max(np.abs(h_scan[:, :, 0] - np.array(h_rnn))))

    # The selective-scan matrix of the filler sequence, channel 0: filler columns are exactly zero.
    delta_m, B_m, C_m = layer.parameters(mixed)
    M = mixing_matrix(delta_m, layer.A, B_m, C_m, channel=0)
    shown = min(len(mixed), 24)
    progress(1.0)
    return Result(
        checks=[
            check("max |recurrent - closed-form state|", state_error, "<=", 1e-10),
            check("max |recurrent - closed-form output|", output_error, "<=", 1e-10),
            check("max Delta on filler tokens", filler_delta, "==", 0.0),
            check("max |final state change| from fillers (selective)", filler_effect, "==", 0.0),
            check("relative final state change from fillers (fixed Delta, LTI)", lti_effect, ">=", 1e-2),
            check("max |ZOH scan (N = 1) - gated RNN| (Theorem 1)", gating_error, "<=", 1e-12),
        ],
        metrics={
            "sequence length (check 1)": config.seq_len,
            "channels x state size": f"{d} x {config.d_state}",
            "filler tokens / all tokens": f"{n_fill} / {len(mixed)}",
            f"first {shown} tokens (c content, f filler)": "".join("f" if f else "c" for f in is_filler[:shown]),
            "recurrent state floats (constant in T)": d * config.d_state,
            f"attention KV-cache floats at T = {config.seq_len} (keys + values)": 2 * config.seq_len * d,
            "mean Delta on content tokens": float(np.mean(delta_m[~is_filler])),
        },
        charts=[
            Chart(f"|M[t, s]| of channel 0 on the filler sequence, first {shown} tokens (filler columns are 0)",
                  "heatmap", matrix=np.abs(M[:shown, :shown]).tolist()),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
