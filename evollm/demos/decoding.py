"""Decoding a language model: greedy, temperature, top-k, top-p, repetition penalty and beam search.

A language model gives a next-token distribution; decoding turns it into text. GPT-2's samples
(Radford et al., 2019) used top-k sampling, after Fan, Lewis and Dauphin ("Hierarchical Neural
Story Generation", arXiv 1805.04833). Nucleus (top-p) sampling keeps the smallest set of tokens
whose mass reaches p (Holtzman et al., "The Curious Case of Neural Text Degeneration", arXiv
1904.09751). CTRL's repetition penalty divides the logits of tokens already generated (Keskar et
al., arXiv 1909.05858), and beam search with GNMT's length penalty ranks finished hypotheses by
log P / lp(|Y|), lp = ((5 + |Y|) / 6)^alpha (Wu et al., arXiv 1609.08144). This demo implements
each on a random bigram model and checks each against its definition: the distributions exactly,
the samplers by their empirical frequencies, and beam search against exhaustive search.

But: the "model" is a random bigram table, so nothing here judges the quality of the text (the
degeneration the nucleus paper measures needs a real model); no batching, no KV cache, no
contrastive or typical sampling, and beam search has no n-gram blocking.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Each decoding rule is exactly the distribution it defines: temperature, top-k, top-p and "
    "the repetition penalty reshape p, samplers draw from the reshaped p, and beam search with "
    "a length penalty finds the best-scoring sequence when the beam is wide enough."
)
EQUATIONS = (
    "temperature: p_T(x) = exp(z_x / T) / sum_y exp(z_y / T)  (proportional to p(x)^(1/T))",
    "top-k: keep the k most probable tokens, renormalise  (Fan et al. 2018)",
    "top-p: smallest V_p with sum_(x in V_p) p(x) >= p, renormalise  (Holtzman et al., Eq. 3)",
    "repetition penalty: z_x / theta if z_x > 0 else z_x * theta, for x already generated  (CTRL)",
    "beam score: log P(Y) / lp(Y),  lp(Y) = (5 + |Y|)^alpha / (5 + 1)^alpha  (GNMT Eq. 14)",
)


@dataclass
class Config:
    """Settings of the decoding demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    vocab: int = setting(40, "tokens of the random bigram model (token 0 ends a sequence)", low=3)
    logit_scale: float = setting(2.5, "std of the bigram logits: larger is more peaked", above=0.0)
    temperature: float = setting(0.7, "T of the temperature check", above=0.0)
    top_k: int = setting(5, "k of top-k sampling", low=1)
    top_p: float = setting(0.9, "p of nucleus sampling", above=0.0, high=1.0)
    penalty: float = setting(1.3, "theta of the repetition penalty (CTRL uses 1.2)", above=1.0)
    samples: int = setting(400_000, "draws per sampler for the empirical-frequency checks", low=1000)
    beam_vocab: int = setting(6, "tokens of the smaller model searched exhaustively", low=3, high=8)
    beam_len: int = setting(4, "longest hypothesis of the beam-search checks", low=1, high=5)
    length_alpha: float = setting(1.0, "alpha of GNMT's length penalty", low=0.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return ([f"top_k: {self.top_k} must be below vocab = {self.vocab}"]
                if self.top_k >= self.vocab else [])


# --quick: fewer draws per sampler. Applied before --set, so --set wins.
QUICK = {"samples": 100_000}

EOS = 0  # the token that ends a sequence


# --- reshaping the next-token distribution ----------------------------------------------------

def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def temperature_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(z / T): T < 1 sharpens, T > 1 flattens, T -> 0 is greedy."""
    return softmax(logits / temperature)


def top_k_filter(probs: np.ndarray, k: int) -> np.ndarray:
    """Zero all but the k most probable tokens (ties: the lower id first) and renormalise."""
    keep = np.argsort(-probs, kind="stable")[:k]
    out = np.zeros_like(probs)
    out[keep] = probs[keep]
    return out / out.sum()


def top_p_filter(probs: np.ndarray, p: float) -> np.ndarray:
    """Keep the most probable tokens until their mass reaches p (the nucleus), renormalise."""
    order = np.argsort(-probs, kind="stable")
    mass_before = np.cumsum(probs[order]) - probs[order]  # mass of the tokens ranked above
    keep = order[mass_before < p]  # a token joins while the nucleus is still short of p
    out = np.zeros_like(probs)
    out[keep] = probs[keep]
    return out / out.sum()


def repetition_penalty(logits: np.ndarray, generated, theta: float) -> np.ndarray:
    """CTRL's penalty: each token already generated has its logit divided by theta if positive,
    multiplied by theta if negative, so its logit always falls."""
    out = logits.copy()
    seen = np.array(sorted(set(generated)), dtype=int)
    out[seen] = np.where(out[seen] > 0, out[seen] / theta, out[seen] * theta)
    return out


def sample(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """n independent draws from `probs` by inverting its CDF."""
    cdf = np.cumsum(probs)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(probs) - 1)


# --- greedy and beam search --------------------------------------------------------------------

def greedy(log_probs: np.ndarray, start: int, max_len: int) -> tuple[int, ...]:
    """The most probable next token, step by step, until EOS or max_len tokens."""
    out, last = [], start
    for _ in range(max_len):
        last = int(np.argmax(log_probs[last]))
        out.append(last)
        if last == EOS:
            break
    return tuple(out)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's lp(Y) = (5 + |Y|)^alpha / 6^alpha."""
    return ((5 + length) / 6) ** alpha


def beam_search(log_probs: np.ndarray, start: int, width: int, max_len: int,
                alpha: float) -> tuple[tuple[int, ...], float]:
    """Beam search from token `start`: (best hypothesis, its score log P / lp).

    At each step every live hypothesis is extended by every token and the `width` most probable
    extensions survive (equal lengths, so log P ranks them as the penalised score would); a
    hypothesis ending in EOS, or reaching max_len, is finished and scored log P / lp(|Y|)."""
    live = [((), 0.0)]
    finished: list[tuple[tuple[int, ...], float]] = []
    for _ in range(max_len):
        candidates = []
        for seq, logp in live:
            last = seq[-1] if seq else start
            for token in range(log_probs.shape[1]):
                candidates.append((seq + (token,), logp + float(log_probs[last, token])))
        candidates.sort(key=lambda c: -c[1])
        live = []
        for seq, logp in candidates[:width]:
            (finished if seq[-1] == EOS else live).append((seq, logp))
        if not live:
            break
    finished += live  # what reached max_len without EOS ends there
    scored = [(seq, logp / length_penalty(len(seq), alpha)) for seq, logp in finished]
    return max(scored, key=lambda s: s[1])


def exhaustive_best(log_probs: np.ndarray, start: int, max_len: int,
                    alpha: float) -> tuple[tuple[int, ...], float]:
    """The best-scoring sequence among all of them: every token string up to max_len that ends
    at its first EOS, or has none and is max_len long."""
    v = log_probs.shape[1]
    best: tuple[tuple[int, ...], float] = ((), -math.inf)
    for length in range(1, max_len + 1):
        for body in itertools.product(range(1, v), repeat=length - 1):
            for last in range(v):
                if last != EOS and length < max_len:
                    continue  # without EOS a sequence only ends at max_len
                seq = body + (last,)
                tokens = (start,) + seq
                logp = sum(float(log_probs[a, b]) for a, b in zip(tokens, tokens[1:]))
                score = logp / length_penalty(length, alpha)
                if score > best[1]:
                    best = (seq, score)
    return best


def total_variation(counts: np.ndarray, probs: np.ndarray) -> float:
    return float(0.5 * np.abs(counts / counts.sum() - probs).sum())


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    v = config.vocab
    logits = rng.normal(0.0, config.logit_scale, (v, v))  # (V, V): row = previous token
    z = logits[1]  # one next-token distribution to reshape
    p = softmax(z)

    # 1. Temperature: softmax(z / T) is p^(1/T) renormalised; T -> 0 is the argmax.
    t = config.temperature
    p_t = temperature_probs(z, t)
    power = p ** (1 / t) / np.sum(p ** (1 / t))
    temperature_error = float(np.max(np.abs(p_t - power)))
    top_two = np.sort(z)[-2:]
    cold_t = (top_two[1] - top_two[0]) / 30  # cold enough that the runner-up gets e^-30
    cold = temperature_probs(z, cold_t)
    cold_error = float(abs(cold[np.argmax(z)] - 1.0))

    # 2. Top-k and top-p against their definitions, token by token.
    k, top_p = config.top_k, config.top_p
    p_k = top_k_filter(p, k)
    kth = np.sort(p)[::-1][k - 1]
    k_definition = np.where(p >= kth, p, 0.0)
    k_error = float(np.max(np.abs(p_k - k_definition / k_definition.sum())))
    p_n = top_p_filter(p, top_p)
    nucleus = p_n > 0
    kept_mass = float(p[nucleus].sum())
    without_smallest = kept_mass - float(p[nucleus].min())
    ranked_first = float(p[nucleus].min() >= p[~nucleus].max(initial=0.0))

    # 3. The repetition penalty scales every other token's probability by one factor, and each
    #    generated token's by less (its logit fell). (A generated token's probability itself
    #    may rise, when a more likely generated token loses more.)
    generated = rng.choice(v, size=6, replace=False)
    p_pen = softmax(repetition_penalty(z, generated, config.penalty))
    others = np.setdiff1d(np.arange(v), generated)
    ratio = p_pen / p
    seen_fell = float(ratio[generated].max() < ratio[others].min())
    others_rose = float(np.ptp(ratio[others]) <= 1e-12 * ratio[others].max() and ratio[others][0] > 1)
    expected_pen = z.copy()
    for token in generated:  # the definition, one token at a time
        expected_pen[token] = z[token] / config.penalty if z[token] > 0 else z[token] * config.penalty
    penalty_error = float(np.max(np.abs(repetition_penalty(z, generated, config.penalty) - expected_pen)))
    report(0.2)

    # 4. The shared sampler draws from each reshaped distribution: empirical TV distance.
    tv = {}
    for name, probs in (("T", p_t), ("top-k", p_k), ("top-p", p_n), ("penalty", p_pen)):
        draws = sample(rng, probs, config.samples)
        tv[name] = total_variation(np.bincount(draws, minlength=v), probs)
    # Noise floor of TV for n draws over the support: about sqrt(support / (2 pi n)).
    tv_bound = 3 * math.sqrt(v / (2 * math.pi * config.samples))
    report(0.5)

    # 5. Beam search against exhaustive search on small models, for every start token; a
    #    width-1 beam is greedy decoding. The length penalty's effect, over 4 small models: with
    #    alpha > 0 no best sequence gets shorter (log P < 0 divided by a larger lp), some longer.
    bv, length, alpha = config.beam_vocab, config.beam_len, config.length_alpha
    beam_misses, greedy_misses, shorter = 0, 0, 0
    lengths = {0.0: [], alpha: []}
    for model in range(4):
        small = rng.normal(0.0, 1.5, (bv, bv))
        small[:, EOS] += 0.5  # sequences end at varied lengths
        log_small = np.log(softmax(small))
        for start in range(bv):
            best, best_score = exhaustive_best(log_small, start, length, alpha)
            if model == 0:
                seq, score = beam_search(log_small, start, bv ** length, length, alpha)
                beam_misses += int(seq != best or abs(score - best_score) > 1e-12)
                greedy_misses += int(beam_search(log_small, start, 1, length, alpha)[0]
                                     != greedy(log_small, start, length))
            plain = len(exhaustive_best(log_small, start, length, 0.0)[0])
            lengths[0.0].append(plain)
            lengths[alpha].append(len(best))
            shorter += int(len(best) < plain)
        report(0.5 + 0.5 * (model + 1) / 4)
    report(1.0)

    mean_len = {a: float(np.mean(x)) for a, x in lengths.items()}
    checks = [
        check(f"softmax(z / T) == p^(1/T) renormalised, T = {t:g} (max abs diff)",
              temperature_error, "<=", 1e-12),
        check("T -> 0 (T = logit gap / 30) puts all mass on the argmax (|p_max - 1|)",
              cold_error, "<=", 1e-9),
        check(f"top-k == p on its k = {k} largest, renormalised (max abs diff)", k_error,
              "<=", 1e-15),
        check(f"top-p: nucleus mass, needs >= p = {top_p:g}", kept_mass, ">=", top_p - 1e-12),
        check("top-p: nucleus mass without its least likely token, needs < p (smallest set)",
              without_smallest, "<", top_p),
        check("top-p: every kept token at least as likely as every dropped one (1 = yes)",
              ranked_first, "==", 1.0),
        check("repetition penalty == CTRL's rule, token by token (max abs diff)", penalty_error,
              "==", 0.0),
        check("repetition penalty: others scaled up by one factor, generated tokens by less "
              "(1 = yes)", seen_fell * others_rose, "==", 1.0),
        check(f"sampler: largest TV(empirical, target) over T/top-k/top-p/penalty, "
              f"{config.samples:,} draws", max(tv.values()), "<=", tv_bound),
        check(f"beam search (no pruning) != exhaustive best, {bv} start tokens", beam_misses,
              "==", 0),
        check("beam width 1 != greedy decoding", greedy_misses, "==", 0),
    ]
    if alpha > 0:
        checks += [
            check(f"length penalty alpha = {alpha:g}: best sequences shorter than with alpha = 0",
                  shorter, "==", 0),
            check(f"length penalty: mean best length, alpha = {alpha:g} minus alpha = 0",
                  mean_len[alpha] - mean_len[0.0], ">", 0.0),
        ]
    order = np.argsort(-p)[: min(v, 15)]
    labels = [str(int(i)) for i in order]
    return Result(
        checks=checks,
        metrics={
            "vocab": v,
            "top_k": k,
            "top_p": top_p,
            "nucleus_size": int(nucleus.sum()),
            "tv_per_sampler": tv,
            "tv_noise_bound": tv_bound,
            "mean_best_length_alpha_0": mean_len[0.0],
            f"mean_best_length_alpha_{alpha:g}": mean_len[alpha],
        },
        charts=[
            Chart("p over its 15 most likely tokens", "bars", labels=labels,
                  y=[float(p[i]) for i in order]),
            Chart(f"temperature T = {t:g}", "bars", labels=labels, y=[float(p_t[i]) for i in order]),
            Chart(f"top-p = {top_p:g} (nucleus of {int(nucleus.sum())} tokens)", "bars",
                  labels=labels, y=[float(p_n[i]) for i in order]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
