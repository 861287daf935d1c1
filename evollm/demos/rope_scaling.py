"""Stretching RoPE to longer contexts: position interpolation, NTK-aware scaling and YaRN.

A model trained with rotary embeddings on L tokens has only seen rotation angles m theta_i for
m < L. Run on s L tokens, its slow pairs (small theta_i) turn through angles it never saw. Position
interpolation (PI, Chen et al., arXiv 2306.15595) divides every position by s, so all angles stay
in the trained range, at the price of squeezing neighbouring tokens s times closer in every pair:
the high frequencies, which tell neighbours apart, are lost. "NTK-aware" scaling instead raises
the base to base x s^(d/(d-2)): the fastest pair is untouched and the slowest is slowed by exactly
s, like interpolation, but the pairs just above the slowest still turn past their trained angles.
YaRN (Peng et al.) splits the pairs by r = L / wavelength, the turns a pair makes in L tokens
("NTK-by-parts"): pairs with r < alpha = 1 never turned a full circle in training and are
interpolated like PI; pairs with r > beta = 32 turned many times, have seen every angle, and keep
their frequency; a ramp linear in r blends the two between. YaRN also divides the attention
logits by a temperature t with sqrt(1/t) = 0.1 ln(s) + 1, done by scaling both the
rotated query and key by sqrt(1/t). Code Llama instead raised the base from 10,000 to 1,000,000
for its 16k-token fine-tuning, which slows the long-distance decay of RoPE's attention bound. This
demo checks each scheme's angles against the trained range, its frequencies against the closed
forms, what each does to the high frequencies, YaRN's ramp and temperature, and the decay.

Paper: Peng, Quesnelle, Fan and Shippole, "YaRN: Efficient Context Window Extension of Large
Language Models", arXiv 2309.00071; with Chen et al., arXiv 2306.15595 (position interpolation)
and Roziere et al., "Code Llama", arXiv 2308.12950 (base period).

But: no model is fine-tuned or evaluated, so nothing here measures perplexity at long context,
which is what the papers report, and YaRN's temperature formula (fitted on LLaMA's perplexity)
is applied and checked as stated, not re-derived; no dynamic scaling at inference time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Unscaled RoPE at s times the trained length turns its slow pairs through unseen angles; "
    "position interpolation keeps every angle in range but divides the high frequencies by s; "
    "NTK-aware scaling and YaRN keep the high frequencies; YaRN interpolates exactly the pairs "
    "that never turned a full circle, with a ramp linear in r and a temperature 0.1 ln s + 1."
)
EQUATIONS = (
    "theta_i = base^(-2i/d), i = 0..d/2-1;  angle of pair i at position m: m theta_i",
    "position interpolation: m -> m / s, i.e. theta_i -> theta_i / s  (Chen et al. Eq. 2)",
    "NTK-aware: base' = base s^(d/(d-2))  =>  theta'_0 = theta_0,  theta'_(d/2-1) = theta_(d/2-1) / s",
    "YaRN: r_i = L theta_i / (2 pi);  gamma = clip((r - alpha) / (beta - alpha), 0, 1);  "
    "theta'_i = (1 - gamma) theta_i / s + gamma theta_i  (alpha = 1, beta = 32)",
    "YaRN temperature: softmax(q^T k / (t sqrt(d))),  sqrt(1/t) = 0.1 ln(s) + 1  (q, k each x sqrt(1/t))",
    "Code Llama: base 10^4 -> 10^6;  decay bound (1/(d/2)) sum_j |sum_(k<j) e^(i r theta_k)|",
)


@dataclass
class Config:
    """Settings of the RoPE-scaling demo."""

    seed: int = 0
    quick: bool = False  # set by --quick (no effect: the run is already short)
    d: int = setting(128, "head dimension (even)", low=4)
    base: float = setting(10000.0, "RoPE base of the trained model", above=1.0)
    trained_len: int = setting(4096, "L: context length seen in training", low=2)
    scale: float = setting(4.0, "s: the context is stretched to s x L", above=1.0)
    alpha: float = setting(1.0, "YaRN: pairs turning fewer than alpha times in L are interpolated "
                           "(>= 1: only pairs that never turned a full circle)", low=1.0)
    beta: float = setting(32.0, "YaRN: pairs turning more than beta times in L keep their frequency",
                          above=1.0)
    long_base: float = setting(1_000_000.0, "Code Llama's larger base", above=1.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = [f"d: {self.d} is odd; RoPE rotates pairs"] if self.d % 2 else []
        if self.long_base <= self.base:
            out.append(f"long_base: {self.long_base:g} must exceed base = {self.base:g}")
        if self.beta <= self.alpha:
            out.append(f"beta: {self.beta:g} must exceed alpha = {self.alpha:g}")
        if self.trained_len / (2 * math.pi) <= self.beta:
            out.append(f"trained_len: {self.trained_len} gives the fastest pair L / (2 pi) = "
                       f"{self.trained_len / (2 * math.pi):.3g} turns, not more than beta = "
                       f"{self.beta:g}: YaRN would keep no frequency")
        return out


# --quick: nothing to cut (the full run takes well under a second).
QUICK: dict = {}


# --- the frequencies of each scheme ---------------------------------------------------------------

def frequencies(d: int, base: float) -> np.ndarray:
    """theta_i = base^(-2i/d), i = 0..d/2-1 (RoFormer Eq. 15, 0-based)."""
    return base ** (-2.0 * np.arange(d // 2) / d)


def interpolated(theta: np.ndarray, scale: float) -> np.ndarray:
    """Position interpolation: position m / s at frequency theta is position m at theta / s."""
    return theta / scale


def ntk_base(base: float, scale: float, d: int) -> float:
    """The NTK-aware base: base x s^(d / (d - 2))."""
    return base * scale ** (d / (d - 2))


def turns(theta: np.ndarray, length: float) -> np.ndarray:
    """r_i = L / lambda_i: how many full turns pair i makes over the trained length."""
    return length * theta / (2 * math.pi)


def yarn_ramp(r: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """gamma(r): 0 below alpha (interpolate), 1 above beta (keep), linear between."""
    return np.clip((r - alpha) / (beta - alpha), 0.0, 1.0)


def yarn(theta: np.ndarray, length: float, scale: float, alpha: float, beta: float) -> np.ndarray:
    """NTK-by-parts: theta' = (1 - gamma) theta / s + gamma theta."""
    gamma = yarn_ramp(turns(theta, length), alpha, beta)
    return (1 - gamma) * theta / scale + gamma * theta


def yarn_temperature(scale: float) -> float:
    """t with sqrt(1/t) = 0.1 ln(s) + 1."""
    return 1.0 / (0.1 * math.log(scale) + 1) ** 2


# --- rotations, scores and the decay ---------------------------------------------------------------

def rotate(x: np.ndarray, m: float, theta: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """RoPE (half-split layout) at position m, times sqrt(1/t): applied to query and key alike,
    that divides their dot product by t (YaRN's "length scaling" trick)."""
    a = m * theta
    first, second = x[: len(theta)], x[len(theta) :]
    rotated = np.concatenate([first * np.cos(a) - second * np.sin(a),
                              first * np.sin(a) + second * np.cos(a)])
    return math.sqrt(1 / temperature) * rotated


def score(q: np.ndarray, k: np.ndarray, m: float, n: float, theta: np.ndarray,
          temperature: float = 1.0) -> float:
    """q_m . k_n with both rotated (and scaled for the temperature)."""
    return float(rotate(q, m, theta, temperature) @ rotate(k, n, theta, temperature))


def score_spread(theta: np.ndarray, rng) -> float:
    """Largest spread of q_m . k_(m-r) over m for a few offsets r: 0 when only m - n matters."""
    q, k = rng.normal(size=len(theta) * 2), rng.normal(size=len(theta) * 2)
    spread = 0.0
    for r in (0, 7, 300):
        scores = [score(q, k, m, m - r, theta) for m in (300.0, 2000.0, 9000.0)]
        spread = max(spread, max(scores) - min(scores))
    return spread


def decay_bound(theta: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """RoFormer Sec. 3.4.3: mean over j of |sum_(k<j) e^(i r theta_k)| at each distance r."""
    partial = np.cumsum(np.exp(1j * np.outer(distances, theta)), axis=1)
    return np.abs(partial).mean(axis=1)


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    c = config
    rng = np.random.default_rng(c.seed)
    d, s, length = c.d, c.scale, c.trained_len
    long = s * length
    theta = frequencies(d, c.base)
    trained = length * theta  # (d/2,): the largest angle of each pair training saw
    r = turns(theta, length)
    unseen = r < 1  # pairs that never turned a full circle: angles beyond L theta are new to them
    slow = -1  # the slowest pair, the one that runs out of trained angles first

    # 1. Each scheme's frequencies, and the largest angle each pair reaches at s x L.
    theta_pi = interpolated(theta, s)
    theta_ntk = frequencies(d, ntk_base(c.base, s, d))
    theta_yarn = yarn(theta, length, s, c.alpha, c.beta)
    reach = {name: long * th / trained for name, th in
             (("none", theta), ("pi", theta_pi), ("ntk", theta_ntk), ("yarn", theta_yarn))}

    # 2. The NTK base against its closed form: fastest pair unchanged, slowest exactly / s.
    slowest_ratio = theta[slow] / theta_ntk[slow]
    step_pi, step_ntk = theta_pi[0], theta_ntk[0]  # fastest pair's angle between neighbours

    # 3. High frequencies: the fastest pair's relative change under each scheme.
    change = {name: abs(th[0] / theta[0] - 1) for name, th in
              (("pi", theta_pi), ("ntk", theta_ntk), ("yarn", theta_yarn))}

    # 4. YaRN by parts, read back from its frequencies: the share gamma of theta kept per pair.
    kept = (theta_yarn / theta - 1 / s) / (1 - 1 / s)
    below, above = r <= c.alpha, r >= c.beta
    ramp = ~below & ~above
    line = (r - c.alpha) / (c.beta - c.alpha)  # the straight line through (alpha, 0), (beta, 1)
    ramp_gap = float(np.max(np.abs(kept[ramp] - line[ramp]), initial=0.0))

    # 5. YaRN's temperature, applied by scaling q and k: every logit divided by t.
    t = yarn_temperature(s)
    q, k = rng.normal(size=d), rng.normal(size=d)
    temperature_gap = max(abs(t * score(q, k, m, n, theta_yarn, t) - score(q, k, m, n, theta_yarn))
                          for m, n in ((5.0, 1.0), (long - 1, 3.0), (900.0, 900.0)))
    temperature_gap /= float(np.linalg.norm(q) * np.linalg.norm(k))

    # 6. Every scheme keeps RoPE relative: scores depend only on m - n.
    spread = max(score_spread(th, rng) for th in (theta_pi, theta_ntk, theta_yarn))

    # 7. Code Llama's base: the long-distance decay bound of RoPE falls more slowly.
    #    The bound oscillates, so compare its mean over the distances L..sL.
    distances = np.linspace(length, long, 256)
    decay_small = decay_bound(theta, distances)
    decay_large = decay_bound(frequencies(d, c.long_base), distances)
    report(1.0)

    checks = [
        check(f"no scaling, s = {s:g}: slowest pair's angle / trained maximum", reach["none"][slow],
              ">", 1.0),
        check("position interpolation: any pair's angle beyond the trained maximum (max ratio)",
              float(np.max(reach["pi"])), "<=", 1.0 + 1e-12),
        check("NTK-aware base: slowest pair's angle / trained maximum", reach["ntk"][slow],
              "<=", 1.0 + 1e-12),
        check("YaRN: pairs that never turned a full circle in L, angle / trained maximum (max)",
              float(np.max(reach["yarn"][unseen], initial=0.0)), "<=", 1.0 + 1e-12),
        check("NTK-aware base: slowest frequency slowed by exactly s (|ratio - s|)",
              abs(slowest_ratio - s), "<=", 1e-9),
        check("fastest pair, angle per token: NTK / interpolation == s (|diff|)",
              abs(step_ntk / step_pi - s), "<=", 1e-9),
        check("high frequency lost by interpolation: fastest pair's change (rel., 1 - 1/s)",
              change["pi"], ">=", (1 - 1 / s) * (1 - 1e-9)),
        check("high frequency kept by NTK-aware scaling: fastest pair's change (rel.)",
              change["ntk"], "<=", 1e-12),
        check("high frequency kept by YaRN: fastest pair's change (rel.)", change["yarn"],
              "<=", 1e-12),
        check(f"YaRN: pairs turning >= beta = {c.beta:g} times in L keep theta (max rel. change)",
              float(np.max(np.abs(theta_yarn[above] / theta[above] - 1), initial=0.0)), "<=", 1e-12),
        check(f"YaRN: pairs turning <= alpha = {c.alpha:g} times are interpolated like PI "
              "(max |theta' s / theta - 1|)",
              float(np.max(np.abs(theta_yarn[below] * s / theta[below] - 1), initial=0.0)), "<=", 1e-12),
        check("YaRN: between, the share of theta kept is linear in r, 0 at alpha, 1 at beta "
              "(max deviation)", ramp_gap, "<=", 1e-12),
        check(f"YaRN temperature at s = {s:g}: sqrt(1/t) - (0.1 ln s + 1) (abs)",
              abs(math.sqrt(1 / t) - (0.1 * math.log(s) + 1)), "<=", 1e-12),
        check("YaRN temperature applied to q and k: logit x t - plain logit, over |q| |k| (max abs)",
              temperature_gap, "<=", 1e-12),
        check("every scaled RoPE still depends only on m - n (spread)", spread, "<=", 1e-9),
        check(f"mean decay bound over distances L..sL, base {c.long_base:g} / base {c.base:g}",
              float(decay_large.mean() / decay_small.mean()), ">", 1.0),
    ]
    pairs = np.arange(d // 2)
    columns = np.unique(np.linspace(0, d // 2 - 1, min(d // 2, 32)).round().astype(int))
    return Result(
        checks=checks,
        metrics={
            "trained_len": length,
            "extended_len": long,
            "ntk_base": ntk_base(c.base, s, d),
            "yarn_pairs_kept_ramp_interpolated": [int(above.sum()), int(ramp.sum()), int(below.sum())],
            "yarn_temperature_t": t,
            "slowest_pair_angle_trained_none_pi_ntk_yarn": [
                float(trained[slow]), *(float(long * th[slow]) for th in (theta, theta_pi, theta_ntk, theta_yarn))],
            "fastest_pair_angle_per_token_pi_ntk_yarn": [float(step_pi), float(step_ntk),
                                                         float(theta_yarn[0])],
            # YaRN's paper: NTK-aware scaling extrapolates some dimensions "out of bound".
            "ntk_worst_unseen_pair_angle_over_trained": float(np.max(reach["ntk"][unseen], initial=0.0)),
            "mean_decay_bound_L_to_sL_small_vs_large_base": [float(decay_small.mean()),
                                                             float(decay_large.mean())],
        },
        charts=[
            Chart("YaRN: share gamma of theta kept per pair, fast -> slow (1 kept, 0 interpolated)",
                  "line", x=[float(i) for i in pairs], y=[float(x) for x in kept]),
            Chart("theta' / theta per pair, fast -> slow (rows: interpolation, NTK-aware, YaRN)",
                  "heatmap", matrix=[[float(th[i] / theta[i]) for i in columns]
                                     for th in (theta_pi, theta_ntk, theta_yarn)]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
