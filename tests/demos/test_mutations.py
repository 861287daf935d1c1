"""Planted bugs: each demo must notice when its core is broken.

Every mutation below breaks one piece of the equations a demo is about (not its printing), alone,
by monkeypatching a building block of the demo's module. The demo's own verdict (`passed`, the
field `evollm demo NAME --json` prints) must then be false: a demo whose checks survive a planted
bug has not proved its claim. Each demo has at least three.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import numpy as np
import pytest

from evollm.demos import runner
from evollm.demos.registry import DEMOS

Mutation = Callable[[object, pytest.MonkeyPatch], None]
MUTATIONS: dict[tuple[str, str], Mutation] = {}


def mutation(demo: str, bug: str):
    def register(plant: Mutation) -> Mutation:
        MUTATIONS[(demo, bug)] = plant
        return plant

    return register


def quick_run(module):
    return module.run(runner.make_config(module, seed=0, quick=True, overrides=[]))


def patch_source(module, mp: pytest.MonkeyPatch, function: str, old: str, new: str,
                 *more: str) -> None:
    """Replace `function` in `module` by a copy whose source has `old` (found exactly once in
    it) replaced by `new` (and so on for further old, new pairs in `more`): for a bug inside a
    function that no building block isolates."""
    source = inspect.getsource(getattr(module, function))
    pairs = [(old, new), *zip(more[0::2], more[1::2])]
    for old, new in pairs:
        assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times in {function}"
        source = source.replace(old, new)
    namespace = dict(vars(module))
    exec(compile(source, f"<mutated {function}>", "exec"), namespace)
    mp.setattr(module, function, namespace[function])


# --- ppo ----------------------------------------------------------------------------------------


@mutation("ppo", "no clip in the surrogate (plain -r A, consistent gradient)")
def _(m, mp):
    mp.setattr(m, "clipped_surrogate", lambda ratio, adv, eps: (-adv * ratio, -adv * ratio))


@mutation("ppo", "surrogate ascends -A (advantage sign flipped, consistent gradient)")
def _(m, mp):
    real = m.clipped_surrogate
    mp.setattr(m, "clipped_surrogate", lambda ratio, adv, eps: real(ratio, -adv, eps))


@mutation("ppo", "entropy bonus's gradient with the wrong sign")
def _(m, mp):
    patch_source(m, mp, "ppo_loss", "d_logits += cfg.ent_coef / n * p * (logp + entropy[:, None])",
                 "d_logits -= cfg.ent_coef / n * p * (logp + entropy[:, None])")


@mutation("ppo", "GAE recursion ignores episode ends")
def _(m, mp):
    patch_source(m, mp, "gae", "advantages[t] = last = delta + gamma * lam * nonterminal * last",
                 "advantages[t] = last = delta + gamma * lam * last")


# --- rope ---------------------------------------------------------------------------------------


@mutation("rope", "frequencies base^(-i/d) instead of base^(-2i/d)")
def _(m, mp):
    mp.setattr(m, "frequencies", lambda d, base: base ** (-1.0 * np.arange(d // 2) / d))


@mutation("rope", "frequencies counted from i = 1 (base^(-2(i+1)/d))")
def _(m, mp):
    mp.setattr(m, "frequencies", lambda d, base: base ** (-2.0 * np.arange(1, d // 2 + 1) / d))


@mutation("rope", "the odd half of each pair rotated the wrong way")
def _(m, mp):
    def rope(x, positions, base):
        d = x.shape[-1]
        angles = np.outer(positions, m.frequencies(d, base))
        cos, sin = np.cos(angles), np.sin(angles)
        even, odd = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = even * cos - odd * sin
        out[..., 1::2] = -even * sin + odd * cos
        return out

    mp.setattr(m, "rope_interleaved", rope)


# --- alibi --------------------------------------------------------------------------------------


@mutation("alibi", "no causal mask")
def _(m, mp):
    def bias(slope_values, seq_len):
        i, j = np.arange(seq_len)[:, None], np.arange(seq_len)[None, :]
        return -np.asarray(slope_values)[:, None, None] * np.abs(i - j).astype(float)

    mp.setattr(m, "alibi_bias", bias)


@mutation("alibi", "bias added with the wrong sign (favours distant keys)")
def _(m, mp):
    real = m.alibi_bias
    mp.setattr(m, "alibi_bias", lambda s, t: np.where(np.isfinite(real(s, t)), -real(s, t), -np.inf))


@mutation("alibi", "slopes start at 2^(-8/n) with ratio 1/2")
def _(m, mp):
    mp.setattr(m, "slopes", lambda n: [2.0 ** (-8.0 / n) * 0.5**h for h in range(n)])


# --- rlhf ---------------------------------------------------------------------------------------


@mutation("rlhf", "gradient without the (1 - random_answer) factor")
def _(m, mp):
    real = m.bt_loss_and_grad
    mp.setattr(m, "bt_loss_and_grad",
               lambda w, diff, mu, eps: (real(w, diff, mu, eps)[0], real(w, diff, mu, eps)[1] / (1 - eps)))


@mutation("rlhf", "gradient summed instead of averaged over pairs")
def _(m, mp):
    real = m.bt_loss_and_grad
    mp.setattr(m, "bt_loss_and_grad",
               lambda w, diff, mu, eps: (real(w, diff, mu, eps)[0], real(w, diff, mu, eps)[1] * len(diff)))


@mutation("rlhf", "oracle prefers the segment with the lower return")
def _(m, mp):
    real = m.preference_probability
    mp.setattr(m, "preference_probability", lambda r1, r2, eps: real(r2, r1, eps))


# --- gptq ---------------------------------------------------------------------------------------


@mutation("gptq", "a block's errors not applied to the later blocks")
def _(m, mp):
    patch_source(m, mp, "gptq", "w[:, i2:] -= err1 @ u[i1:i2, i2:]", "pass")


@mutation("gptq", "error not divided by the diagonal of the Cholesky factor")
def _(m, mp):
    patch_source(m, mp, "gptq", "err = (col - q[:, i1 + i]) / u1[i, i]", "err = col - q[:, i1 + i]")


@mutation("gptq", "Cholesky factor of H instead of H^-1")
def _(m, mp):
    patch_source(m, mp, "gptq", "np.linalg.cholesky(np.linalg.inv(h)).T", "np.linalg.cholesky(h).T")


# --- zero ---------------------------------------------------------------------------------------


@mutation("zero", "backprop forgets tanh's derivative")
def _(m, mp):
    patch_source(m, mp, "loss_and_grad", "delta = (delta @ p[i].T) * (1 - acts[i // 2] ** 2)",
                 "delta = delta @ p[i].T")


@mutation("zero", "P_os+g+p skips the backward pass's second all-gather")
def _(m, mp):
    patch_source(m, mp, "train", "net.sent += psi * (n_d - 1) / n_d", "pass")


@mutation("zero", "P_os's formula without the division of the optimizer state by N_d")
def _(m, mp):
    patch_source(m, mp, "memory_formula", '"os": 2 * psi + 2 * psi + k * psi / n_d',
                 '"os": 2 * psi + 2 * psi + k * psi')


@mutation("zero", "gradients not averaged over ranks before the sharded step")
def _(m, mp):
    patch_source(m, mp, "train", 'rank["grad16"][:] = (reduced[r] / (n_d * cfg.loss_scale)).astype(FP16)',
                 'rank["grad16"][:] = (reduced[r] / cfg.loss_scale).astype(FP16)')


# --- bpe ----------------------------------------------------------------------------------------


@mutation("bpe", "encoding merges the latest-learned pair first")
def _(m, mp):
    patch_source(m, mp, "apply_merges", 'key=lambda p: ranks.get(p, float("inf"))',
                 'key=lambda p: -ranks.get(p, -1)')


@mutation("bpe", "encoding merges the leftmost known pair first")
def _(m, mp):
    def leftmost_first(symbols, ranks, merged):
        while True:
            known = [p for p in zip(symbols, symbols[1:]) if p in ranks]
            if not known:
                return symbols
            symbols = m.merge_pair(symbols, known[0], merged[known[0]])

    mp.setattr(m, "apply_merges", leftmost_first)


@mutation("bpe", "training merges the least frequent pair")
def _(m, mp):
    patch_source(m, mp, "learn_merges", "top = max(counts.values())", "top = min(counts.values())")


@mutation("bpe", "merge_pair also merges overlapping occurrences")
def _(m, mp):
    def overlapping(symbols, pair, new):
        out = []
        for a, b in zip(symbols, symbols[1:]):
            out.append(new if (a, b) == pair else a)
        return out + symbols[-1:] if symbols else out

    mp.setattr(m, "merge_pair", overlapping)


# --- grpo ---------------------------------------------------------------------------------------


@mutation("grpo", "no clip in the surrogate")
def _(m, mp):
    mp.setattr(m, "clipped_surrogate",
               lambda ratio, adv, eps: (ratio * adv, ratio * adv, np.zeros(ratio.shape, bool)))


@mutation("grpo", "KL term added instead of subtracted (objective and gradient)")
def _(m, mp):
    patch_source(m, mp, "grpo_objective", "np.sum(surrogate - kl_coef * kl)", "np.sum(surrogate + kl_coef * kl)",
                 "weight * (-kl_coef) * d_kl", "weight * kl_coef * d_kl")


@mutation("grpo", "ratio left out of the surrogate's gradient")
def _(m, mp):
    patch_source(m, mp, "clipped_surrogate", "np.where(unclipped, ratio * adv, 0.0)",
                 "np.where(unclipped, adv, 0.0)")


@mutation("grpo", "advantages not divided by the group's std")
def _(m, mp):
    mp.setattr(m, "group_advantages", lambda r: r - r.mean(axis=1, keepdims=True))


# --- moe ----------------------------------------------------------------------------------------


@mutation("moe", "importance loss counted in the loss but its gradient dropped")
def _(m, mp):
    real = m.importance_loss
    mp.setattr(m, "importance_loss", lambda gates, w: (real(gates, w)[0], np.zeros_like(gates)))


@mutation("moe", "load loss counted in the loss but its gradient dropped")
def _(m, mp):
    real = m.load_loss

    def no_gradient(cache, k, w):
        value, *grads = real(cache, k, w)
        return (value, *(np.zeros_like(g) for g in grads))

    mp.setattr(m, "load_loss", no_gradient)


@mutation("moe", "load gradient misses the threshold's own noisy logit")
def _(m, mp):
    patch_source(m, mp, "load_loss", "np.add.at(dnoisy, (rows, threshold_from.ravel()), -dp.ravel())", "pass")


@mutation("moe", "Switch aux loss gradient uses P_i instead of f_i")
def _(m, mp):
    patch_source(m, mp, "switch_loss_and_grads", "dprobs += cfg.switch_alpha * n_exp * f[None, :] / n",
                 "dprobs += cfg.switch_alpha * n_exp * probs.mean(axis=0)[None, :] / n")


@mutation("moe", "gate softmax over all experts (no KeepTopK)")
def _(m, mp):
    real = m.noisy_top_k_gate
    mp.setattr(m, "noisy_top_k_gate", lambda x, wg, wn, k, noise: real(x, wg, wn, wg.shape[1] - 1, noise))


# --- kv-cache -----------------------------------------------------------------------------------


@mutation("kv-cache", "new keys and values never written to the cache")
def _(m, mp):
    patch_source(m, mp, "forward", "cache.k[i, :, start : start + t] = k", "pass")


@mutation("kv-cache", "query head h uses key/value head h % G (interleaved, not contiguous groups)")
def _(m, mp):
    def interleaved(q, k, v, start):
        g = k.shape[0]
        return m.attention_mha(q, k[np.arange(q.shape[0]) % g], v[np.arange(q.shape[0]) % g], start)

    mp.setattr(m, "attention_grouped", interleaved)


@mutation("kv-cache", "the cached decoder recomputes the whole sequence anyway")
def _(m, mp):
    patch_source(m, mp, "decode", "if cache is None:  # full recomputation", "if True:  # full recomputation")


@mutation("kv-cache", "the causal mask lets a query see the next key")
def _(m, mp):
    patch_source(m, mp, "softmax_causal", "<= start + np.arange(tq)[:, None]", "<= start + 1 + np.arange(tq)[:, None]")


# --- transformer --------------------------------------------------------------------------------


@mutation("transformer", "scores not divided by sqrt(d_k)")
def _(m, mp):
    patch_source(m, mp, "scaled_dot_product_attention", "/ math.sqrt(d_k)", "")


@mutation("transformer", "causal mask lets each query see the next token")
def _(m, mp):
    patch_source(m, mp, "scaled_dot_product_attention", "np.tril(np.ones((t, t), dtype=bool))",
                 "np.tril(np.ones((t, t), dtype=bool), k=1)")


@mutation("transformer", "heads split with the wrong reshape (d_k, h instead of h, d_k)")
def _(m, mp):
    patch_source(m, mp, "multi_head_attention", "return y.reshape(b, t, n_heads, d_k).transpose(0, 2, 1, 3)",
                 "return y.reshape(b, t, d_k, n_heads).transpose(0, 3, 1, 2)")


# --- flash-attention ----------------------------------------------------------------------------


@mutation("flash-attention", "Algorithm 1 does not rescale the old partial output (line 12)")
def _(m, mp):
    patch_source(m, mp, "flash_attention", "((l_i * np.exp(m_i - m_new))[:, None] * o_i",
                 "(l_i[:, None] * o_i")


@mutation("flash-attention", "FlashAttention-2 does not rescale its running output")
def _(m, mp):
    patch_source(m, mp, "flash_attention_2", "o_i = scale[:, None] * o_i + p_ij @ v_j", "o_i = o_i + p_ij @ v_j")


@mutation("flash-attention", "block sizes that ignore the SRAM size M")
def _(m, mp):
    mp.setattr(m, "block_sizes", lambda sram, d: (min(16, d), 16))


@mutation("flash-attention", "logsumexp returned without log l")
def _(m, mp):
    patch_source(m, mp, "flash_attention", "return o, m + np.log(ell)", "return o, m")


# --- dpo ----------------------------------------------------------------------------------------


@mutation("dpo", "gradient without beta")
def _(m, mp):
    patch_source(m, mp, "dpo_loss_and_grad", "grad = -beta * (weight", "grad = -(weight")


@mutation("dpo", "implicit reward without the reference policy")
def _(m, mp):
    patch_source(m, mp, "dpo_loss_and_grad", "implicit = beta * (log_pi - log_ref)", "implicit = beta * log_pi")


@mutation("dpo", "preference labels from the opposite Bradley-Terry comparison")
def _(m, mp):
    patch_source(m, mp, "sample_pairs", "np.exp(-(reward[prompts, first] - reward[prompts, second]))",
                 "np.exp(reward[prompts, first] - reward[prompts, second])")


# --- lora ---------------------------------------------------------------------------------------


@mutation("lora", "merged weight forgets the scale alpha / r")
def _(m, mp):
    patch_source(m, mp, "merged_forward", "return X @ (W0 + scale * B @ A).T", "return X @ (W0 + B @ A).T")


@mutation("lora", "B initialised randomly instead of to zero")
def _(m, mp):
    patch_source(m, mp, "init_adapter", "np.zeros((d_out, r))", "rng.normal(size=(d_out, r)) * 0.01")


@mutation("lora", "gradient in A without the scale")
def _(m, mp):
    patch_source(m, mp, "loss_and_grads", "grad_A = 2 * scale * (residual @ B).T", "grad_A = 2 * (residual @ B).T")


# --- speculative-decoding -----------------------------------------------------------------------


@mutation("speculative-decoding", "accept with probability min(1, q/p) instead of min(1, p/q)")
def _(m, mp):
    patch_source(m, mp, "speculative_round", "accepted = rng.random((n_seq, gamma)) * q_x < p_x",
                 "accepted = rng.random((n_seq, gamma)) * p_x < q_x")


@mutation("speculative-decoding", "after a rejection sample from p, not from norm(max(0, p - q))")
def _(m, mp):
    patch_source(m, mp, "speculative_round", "residual = np.maximum(p_next - q_next, 0.0)", "residual = p_next")


@mutation("speculative-decoding", "counts every accepted draft, not only the leading run")
def _(m, mp):
    patch_source(m, mp, "speculative_round", "n = np.cumprod(accepted, axis=1).sum(axis=1)",
                 "n = accepted.sum(axis=1)")


# --- chinchilla ---------------------------------------------------------------------------------


@mutation("chinchilla", "exponents a and b swapped in eq. 4")
def _(m, mp):
    patch_source(m, mp, "compute_optimal", "a, b = beta / (alpha + beta), alpha / (alpha + beta)",
                 "a, b = alpha / (alpha + beta), beta / (alpha + beta)")


@mutation("chinchilla", "C = 2 N D instead of 6 N D in the closed form")
def _(m, mp):
    patch_source(m, mp, "compute_optimal", "return g * (flops / 6) ** a, (flops / 6) ** b / g",
                 "return g * (flops / 2) ** a, (flops / 2) ** b / g")


@mutation("chinchilla", "G without the 1/(alpha + beta) power")
def _(m, mp):
    patch_source(m, mp, "compute_optimal", "g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))",
                 "g = alpha * A / (beta * B)")


# --- paged-attention ----------------------------------------------------------------------------


@mutation("paged-attention", "no copy-on-write: a fork writes into the shared block")
def _(m, mp):
    patch_source(m, mp, "PagedKVCache", "elif self.allocator.refcount[table[-1]] > 1:", "elif False:")


@mutation("paged-attention", "a released block never returns to the free list")
def _(m, mp):
    real = m.BlockAllocator.release

    def release(self, block):
        free = list(self.free_list)
        real(self, block)
        self.free_list[:] = free

    mp.setattr(m.BlockAllocator, "release", release)


@mutation("paged-attention", "the last block is read whole, stale slots included")
def _(m, mp):
    patch_source(m, mp, "paged_attention", "valid = min(bs, n - j * bs)", "valid = bs")


# --- mamba --------------------------------------------------------------------------------------


@mutation("mamba", "A_bar = 1 + Delta A (first order) instead of exp(Delta A)")
def _(m, mp):
    patch_source(m, mp, "selective_scan", "A_bar = np.exp(dA)", "A_bar = 1 + dA")


@mutation("mamba", "Delta does not depend on the input (no selection)")
def _(m, mp):
    patch_source(m, mp, "S6", "softplus(x @ self.W_dt + self.b_dt)", "softplus(0 * x @ self.W_dt + self.b_dt)")


@mutation("mamba", "zero-order hold B_bar without the division by A")
def _(m, mp):
    patch_source(m, mp, "selective_scan", "B_bar = (A_bar - 1) / A * B[t]", "B_bar = (A_bar - 1) * B[t]")


# --- performer ----------------------------------------------------------------------------------


@mutation("performer", "features without the -|x|^2 / 2 term")
def _(m, mp):
    patch_source(m, mp, "positive_features", "exponent = X @ W.T - 0.5 * np.sum(X * X, axis=1, keepdims=True)",
                 "exponent = X @ W.T")


@mutation("performer", "trigonometric features (sin, cos) instead of positive ones")
def _(m, mp):
    def trig(X, W, stabiliser):
        proj = X @ W.T
        norm = np.exp(0.5 * np.sum(X * X, axis=1, keepdims=True))
        return np.concatenate([np.cos(proj), np.sin(proj)], axis=1) * norm / np.sqrt(W.shape[0])

    mp.setattr(m, "positive_features", trig)


@mutation("performer", "queries and keys scaled by d^-1/2 instead of d^-1/4")
def _(m, mp):
    patch_source(m, mp, "favor_attention", "scale = Q.shape[1] ** -0.25", "scale = Q.shape[1] ** -0.5")


# --- distillation -------------------------------------------------------------------------------


@mutation("distillation", "soft-loss gradient without the factor T")
def _(m, mp):
    patch_source(m, mp, "soft_target_loss", "return loss, T * (np.exp(log_ps) - pt) / n",
                 "return loss, (np.exp(log_ps) - pt) / n")


@mutation("distillation", "loss without the T^2 factor")
def _(m, mp):
    patch_source(m, mp, "soft_target_loss", "loss = T**2 * float(", "loss = float(")


@mutation("distillation", "backprop forgets the ReLU's mask")
def _(m, mp):
    patch_source(m, mp, "backward", "d_hidden = (grad_logits @ W2.T) * (hidden > 0)", "d_hidden = grad_logits @ W2.T")


# --- decoding -----------------------------------------------------------------------------------


@mutation("decoding", "top-p drops the token that carries the nucleus past p")
def _(m, mp):
    patch_source(m, mp, "top_p_filter", "keep = order[mass_before < p]",
                 "keep = order[mass_before + probs[order] < p]")


@mutation("decoding", "top-k keeps k + 1 tokens")
def _(m, mp):
    patch_source(m, mp, "top_k_filter", "[:k]", "[: k + 1]")


@mutation("decoding", "repetition penalty multiplies positive logits by theta")
def _(m, mp):
    patch_source(m, mp, "repetition_penalty", "np.where(out[seen] > 0, out[seen] / theta, out[seen] * theta)",
                 "out[seen] * theta")


@mutation("decoding", "temperature multiplies the logits by T")
def _(m, mp):
    mp.setattr(m, "temperature_probs", lambda logits, t: m.softmax(logits * t))


@mutation("decoding", "length penalty inverted: lp = (6 / (5 + |Y|))^alpha")
def _(m, mp):
    mp.setattr(m, "length_penalty", lambda length, alpha: (6 / (5 + length)) ** alpha)


@mutation("decoding", "beam ranks live hypotheses by log P / |Y| and keeps the worst")
def _(m, mp):
    patch_source(m, mp, "beam_search", "candidates.sort(key=lambda c: -c[1])", "candidates.sort(key=lambda c: c[1])")


@mutation("decoding", "sampler returns the token after the one it drew")
def _(m, mp):
    patch_source(m, mp, "sample", 'side="right")', 'side="right") + 1')


# --- sliding-window -----------------------------------------------------------------------------


@mutation("sliding-window", "window mask one token too wide (i - j <= W)")
def _(m, mp):
    patch_source(m, mp, "window_mask", "(i - j < w)", "(i - j <= w)")


@mutation("sliding-window", "rolling cache indexes slots by i mod (W - 1)")
def _(m, mp):
    patch_source(m, mp, "RollingCache", "self.sinks + i % self.w", "self.sinks + i % max(1, self.w - 1)")


@mutation("sliding-window", "sink tokens share the ring instead of keeping their own slots")
def _(m, mp):
    patch_source(m, mp, "RollingCache", "return i if i < self.sinks else", "return")


@mutation("sliding-window", "banded attention reads one key too few")
def _(m, mp):
    patch_source(m, mp, "banded_attention", "lo = max(0, i - w + 1)", "lo = max(0, i - w + 2)")


@mutation("sliding-window", "sinks as a wider window of S + W, in both the mask and the cache")
def _(m, mp):
    patch_source(m, mp, "window_mask", "((i - j < w) | (j < sinks))", "(i - j < w + sinks)")
    patch_source(m, mp, "RollingCache", "return i if i < self.sinks else self.sinks + i % self.w",
                 "return i % (self.sinks + self.w)")


@mutation("sliding-window", "one ring over all S + W slots in the cache (the sinks get evicted)")
def _(m, mp):
    patch_source(m, mp, "RollingCache", "return i if i < self.sinks else self.sinks + i % self.w",
                 "return i % (self.sinks + self.w)")


@mutation("sliding-window", "the sink slots keep the S most recent evicted tokens, not the first S")
def _(m, mp):
    patch_source(m, mp, "RollingCache",
                 "s = self.slot(i)",
                 "s = self.slot(i)\n"
                 "        if i >= self.sinks + self.w and self.sinks:\n"
                 "            old = self.sinks + (i - self.w) % self.w\n"
                 "            spill = (i - self.w) % self.sinks\n"
                 "            self.k[spill], self.v[spill], self.position[spill] = self.k[old], self.v[old], self.position[old]")


# --- mla ----------------------------------------------------------------------------------------


@mutation("mla", "query absorbed with W^UV instead of W^UK")
def _(m, mp):
    patch_source(m, mp, "absorb_query", 'w["UK"]', 'w["UV"]')


@mutation("mla", "k^R cached unrotated and rotated at the query's position")
def _(m, mp):
    patch_source(m, mp, "decode_latent", "cache_r[i] = rope((h[i] @ w[\"KR\"])[None], pos)[0]",
                 "cache_r[i] = h[i] @ w[\"KR\"]",
                 "q_r @ cache_r[: i + 1].T", "q_r @ rope(cache_r[: i + 1], np.full(i + 1, float(i))).T")


@mutation("mla", "RoPE's second half rotated the wrong way (not a rotation)")
def _(m, mp):
    patch_source(m, mp, "rope", "first * sin + second * cos", "first * sin - second * cos")


@mutation("mla", "latent path scales scores by 1/sqrt(d_h), forgetting d_h^R")
def _(m, mp):
    patch_source(m, mp, "decode_latent", "scale = 1 / math.sqrt(q_c.shape[-1] + q_r.shape[-1])",
                 "scale = 1 / math.sqrt(q_c.shape[-1])")


# --- self-consistency ---------------------------------------------------------------------------


@mutation("self-consistency", "the vote returns the first sampled answer (no voting)")
def _(m, mp):
    mp.setattr(m, "majority_vote", lambda rng, samples, k: samples[:, 0])


@mutation("self-consistency", "ties broken towards the lowest answer id")
def _(m, mp):
    patch_source(m, mp, "majority_vote", "np.where(top, noise, -1.0)", "np.where(top, -np.arange(top.shape[1]), -99)")


@mutation("self-consistency", "exact accuracy counts a tie as a win")
def _(m, mp):
    patch_source(m, mp, "exact_accuracy", "wins = (n[:, 0] == largest) / (n == largest[:, None]).sum(axis=1)",
                 "wins = (n[:, 0] == largest) * 1.0")


# --- tensor-parallel ----------------------------------------------------------------------------


@mutation("tensor-parallel", "the second bias added on every rank before the all-reduce")
def _(m, mp):
    patch_source(m, mp, "parallel_forward", 'partial = [gelu(h @ r["a"] + r["a_bias"]) @ r["b"] for r in ranks]',
                 'partial = [gelu(h @ r["a"] + r["a_bias"]) @ r["b"] + r["b_bias"] for r in ranks]',
                 'return h + net.all_reduce(partial) + ranks[0]["b_bias"]', 'return h + net.all_reduce(partial)')


@mutation("tensor-parallel", "each rank attends with all n_heads over its slice (wrong head width)")
def _(m, mp):
    patch_source(m, mp, "parallel_forward", "per_rank = n_heads // len(ranks)", "per_rank = n_heads")


@mutation("tensor-parallel", "GeLU's derivative without the cubic term")
def _(m, mp):
    patch_source(m, mp, "gelu_grad", "(1 + 3 * 0.044715 * x * x)", "1")


@mutation("tensor-parallel", "dL/dx taken from rank 0 only (no all-reduce backward)")
def _(m, mp):
    patch_source(m, mp, "parallel_mlp_backward", "return grads, net.all_reduce(dh_parts)", "return grads, dh_parts[0]")


@mutation("tensor-parallel", "pipeline: a stage starts a forward before the previous stage has sent it")
def _(m, mp):
    patch_source(m, mp, "needs", 'return ("F", j, stage - 1) if stage > 0 else None', "return None")


@mutation("tensor-parallel", "pipeline: an operation may start one slot before its input arrives")
def _(m, mp):
    patch_source(m, mp, "simulate_pipeline", "done.get(dep, t + 1) > t", "done.get(dep, t + 2) > t + 1")


@mutation("tensor-parallel", "pipeline: backward waits on the previous stage, not the next")
def _(m, mp):
    patch_source(m, mp, "needs", 'return ("B", j, stage + 1) if stage < p - 1 else ("F", j, stage)',
                 'return ("B", j, stage - 1) if stage > 0 else ("F", j, stage)')


@mutation("tensor-parallel", "GPipe bubble written as (p - 1) / m (idle over busy, not over all slots)")
def _(m, mp):
    mp.setattr(m, "bubble_formula", lambda p, mb: (p - 1) / mb)


# --- quantization -------------------------------------------------------------------------------


@mutation("quantization", "NF4 levels from evenly spaced quantile positions from 0.99")
def _(m, mp):
    real = m.nf4_levels
    mp.setattr(m, "nf4_levels", lambda offset=0.99: real(0.99))


@mutation("quantization", "one absmax for the whole tensor (block size ignored)")
def _(m, mp):
    patch_source(m, mp, "quantize_blockwise", "blocks = w.reshape(-1, block)", "blocks = w.reshape(1, -1)",
                 "return codes.reshape(-1), absmax", "return codes.reshape(-1), np.repeat(absmax, w.size // block)")


@mutation("quantization", "double quantization in blocks of 64 scales, not scale_block")
def _(m, mp):
    patch_source(m, mp, "double_quantize", "centred = (absmax - mean).reshape(-1, scale_block)",
                 "centred = (absmax - mean).reshape(-1, 64)")


@mutation("quantization", "nearest level taken as the one below (floor)")
def _(m, mp):
    patch_source(m, mp, "nearest", "np.where(np.abs(x - levels[left]) <= np.abs(levels[right] - x), left, right)",
                 "np.where(x >= levels[right], right, left)")


@mutation("quantization", "absmax int8 scales by 128 / max|x| (the top code overflows int8)")
def _(m, mp):
    patch_source(m, mp, "absmax_quantize", "np.round(127 * x / top)", "np.round(128 * x / top)")


@mutation("quantization", "zero-point int8 spreads the range over 256 steps (code 127 unused)")
def _(m, mp):
    patch_source(m, mp, "zeropoint_quantize", "/ 255", "/ 256")


@mutation("quantization", "LLM.int8() looks for outliers in x, not |x| (negative features missed)")
def _(m, mp):
    patch_source(m, mp, "outlier_columns", "np.abs(x) >= threshold", "x >= threshold")


@mutation("quantization", "LLM.int8() adds the outlier columns again through the int8 path")
def _(m, mp):
    patch_source(m, mp, "llm_int8_matmul", "int8_matmul(x[:, ~cols], w[~cols])", "int8_matmul(x, w)")


@mutation("quantization", "SmoothQuant divides W by s as well (the product changes)")
def _(m, mp):
    patch_source(m, mp, "smooth", "w * s[:, None]", "w / s[:, None]")


@mutation("quantization", "SmoothQuant's s multiplies max|W|^(1 - alpha) instead of dividing")
def _(m, mp):
    patch_source(m, mp, "smoothing_factors", "alpha / np.max", "alpha * np.max")


# --- rope-scaling -------------------------------------------------------------------------------


@mutation("rope-scaling", "NTK base raised by s instead of s^(d/(d-2))")
def _(m, mp):
    mp.setattr(m, "ntk_base", lambda base, scale, d: base * scale)


@mutation("rope-scaling", "interpolation multiplies positions by s")
def _(m, mp):
    patch_source(m, mp, "interpolated", "return theta / scale", "return theta * scale")


@mutation("rope-scaling", "frequencies base^(-i/d) instead of base^(-2i/d)")
def _(m, mp):
    mp.setattr(m, "frequencies", lambda d, base: base ** (-1.0 * np.arange(d // 2) / d))


@mutation("rope-scaling", "interpolation spares the fastest pair (YaRN's idea credited to PI)")
def _(m, mp):
    patch_source(m, mp, "interpolated", "return theta / scale",
                 "return np.concatenate([theta[:1], theta[1:] / scale])")


@mutation("rope-scaling", "YaRN ramp inverted: interpolates the fast pairs, keeps the slow ones")
def _(m, mp):
    patch_source(m, mp, "yarn", "(1 - gamma) * theta / scale + gamma * theta",
                 "gamma * theta / scale + (1 - gamma) * theta")


@mutation("rope-scaling", "YaRN ramp over the wavelength instead of the turns in L")
def _(m, mp):
    patch_source(m, mp, "yarn", "yarn_ramp(turns(theta, length), alpha, beta)",
                 "yarn_ramp(2 * math.pi / theta, alpha, beta)")


@mutation("rope-scaling", "YaRN ramp from beta down to alpha (bounds swapped)")
def _(m, mp):
    real = m.yarn_ramp
    mp.setattr(m, "yarn_ramp", lambda r, alpha, beta: real(r, beta, alpha))


@mutation("rope-scaling", "YaRN temperature applied to the query only")
def _(m, mp):
    patch_source(m, mp, "score", "rotate(k, n, theta, temperature)", "rotate(k, n, theta)")


@mutation("rope-scaling", "YaRN temperature without the square: 1/t = 0.1 ln s + 1")
def _(m, mp):
    mp.setattr(m, "yarn_temperature", lambda scale: 1.0 / (0.1 * np.log(scale) + 1))


# --- tiny-gpt -----------------------------------------------------------------------------------


@mutation("tiny-gpt", "no causal mask")
def _(m, mp):
    patch_source(m, mp, "attention", "scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)", "pass")


@mutation("tiny-gpt", "softmax backward without the subtraction of sum(dA * A)")
def _(m, mp):
    patch_source(m, mp, "attention_backward", "d_scores = a * (d_a - np.sum(d_a * a, axis=-1, keepdims=True))",
                 "d_scores = a * d_a")


@mutation("tiny-gpt", "keys' gradient without the 1/sqrt(d) scale")
def _(m, mp):
    patch_source(m, mp, "attention_backward", "d_kr = d_scores.transpose(0, 1, 3, 2) @ qr / math.sqrt(d_head)",
                 "d_kr = d_scores.transpose(0, 1, 3, 2) @ qr")


@mutation("tiny-gpt", "RoPE backward rotates the gradient forward (R dy, not R^T dy)")
def _(m, mp):
    mp.setattr(m, "rope_backward", m.rope)


@mutation("tiny-gpt", "RMSNorm backward without the term through the mean square")
def _(m, mp):
    patch_source(m, mp, "rmsnorm_backward", "dx = r * dxhat - r**3 * x * np.mean(dxhat * x, axis=-1, keepdims=True)",
                 "dx = r * dxhat")


@mutation("tiny-gpt", "SwiGLU backward takes silu'(u) as sigmoid(u)")
def _(m, mp):
    patch_source(m, mp, "swiglu_backward", "sig * (1 + u * (1 - sig))", "sig")


@mutation("tiny-gpt", "backprop drops the residual path around the feed-forward")
def _(m, mp):
    patch_source(m, mp, "loss_and_grads", "d_x = d_x + d_mlp_in", "d_x = d_mlp_in")


@mutation("tiny-gpt", "weight decay added to the gradient (Adam with L2), not decoupled")
def _(m, mp):
    patch_source(m, mp, "adamw_step", "for k, w in p.items():",
                 "g = {k: g[k] + c.weight_decay * w if w.ndim == 2 else g[k] for k, w in p.items()}\n"
                 "    for k, w in p.items():",
                 "if w.ndim == 2:\n            update = update + c.weight_decay * w", "pass")


@mutation("tiny-gpt", "trained to predict the current character, not the next")
def _(m, mp):
    patch_source(m, mp, "loss_and_grads", "inputs, targets = tokens[:, :-1], tokens[:, 1:]",
                 "inputs, targets = tokens[:, :-1], tokens[:, :-1]")


@mutation("tiny-gpt", "sampler returns the character after the one it drew")
def _(m, mp):
    patch_source(m, mp, "sample", "np.minimum(draws, probs.shape[1] - 1)", "np.minimum(draws + 1, probs.shape[1] - 1)")


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("demo,bug", sorted(MUTATIONS), ids=[f"{d}: {b}" for d, b in sorted(MUTATIONS)])
def test_a_planted_bug_fails_the_demo(demo, bug, monkeypatch):
    module = importlib.import_module(DEMOS[demo].module)
    MUTATIONS[(demo, bug)](module, monkeypatch)
    result = quick_run(module)
    assert not result.passed, f"{demo} still passes every check with the bug: {bug}"


def test_every_demo_has_three_planted_bugs():
    counts = {name: sum(d == name for d, _ in MUTATIONS) for name in DEMOS}
    assert all(n >= 3 for n in counts.values()), {k: v for k, v in counts.items() if v < 3}
