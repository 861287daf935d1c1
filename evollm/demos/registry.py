"""The registry of demos: a plain dict from demo name to where its code lives.

Importing this module costs nothing (no numpy): the schema reads `DEMOS` to check that an entry's
`demo` names a registered demo, and a demo's module is imported only when it runs. Data only ever
names a key of this dict; it never names a module or a command.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoSpec:
    name: str
    entry: str  # id of the knowledge-base entry whose idea it implements
    shows: str  # what it shows, one line
    checks: str  # what it checks, one line
    typical_seconds: float  # a typical full run on 2 cores

    @property
    def module(self) -> str:
        """The module under evollm.demos that holds `Config` and `run`."""
        return "evollm.demos." + self.name.replace("-", "_")


def _spec(name: str, entry: str, shows: str, checks: str, seconds: float) -> tuple[str, DemoSpec]:
    return name, DemoSpec(name, entry, shows, checks, seconds)


DEMOS: dict[str, DemoSpec] = dict(
    [
        _spec("ppo", "ppo", "PPO's clipped objective learns CartPole-v1",
              "gradient check; sampled policy mean return >= 475", 10),
        _spec("transformer", "transformer", "scaled dot-product and multi-head attention",
              "vectorized == loop; causal mask leaks nothing; equivariance; logit scale", 1),
        _spec("flash-attention", "flash-attention", "tiled attention with an online softmax",
              "equals naive attention; logsumexp; counted memory traffic", 2),
        _spec("kv-cache", "mqa", "KV caching with multi-head, grouped and multi-query attention",
              "cached == recomputed tokens; >= 3x faster; cache bytes H:G:1", 4),
        _spec("rlhf", "rlhf", "a Bradley-Terry reward model learned from preferences",
              "held-out agreement and correlation with the true reward >= 0.9; loss falls every step", 1),
        _spec("dpo", "dpo", "direct preference optimization of a log-linear policy",
              "loss starts at ln 2 and falls; implicit reward correlates >= 0.9; gradient check", 1),
        _spec("grpo", "deepseekmath", "group-relative policy optimization on a verifiable task",
              "advantages mean 0 / std 1; equal rewards give zero gradient; accuracy 1% -> >= 95%", 2),
        _spec("lora", "lora", "low-rank adapters on a frozen weight",
              "B = 0 leaves output unchanged; merged == adapter; r >= true rank recovers the update", 2),
        _spec("rope", "rope", "rotary position embeddings",
              "scores depend only on m - n; norms preserved; two layouts agree", 1),
        _spec("moe", "moe", "noisy top-k gating and load balancing",
              "k gates per token; Switch loss 1.0 when uniform; balanced load; beats dense", 6),
        _spec("bpe", "bpe", "byte-level BPE trained on the knowledge base's own text",
              "known merges; encoding == merges in learned order; lossless; held-out compression", 1),
        _spec("speculative-decoding", "speculative-decoding", "draft-then-verify decoding",
              "greedy equality; TV distance <= 0.01; tokens per call formula", 4),
        _spec("chinchilla", "chinchilla", "compute-optimal model and data size (--set flops=1e24)",
              "closed form == IsoFLOP search; refit recovers exponents", 1),
        _spec("gptq", "gptq", "error-compensating 4- and 3-bit quantization",
              "GPTQ error <= 0.35x round-to-nearest; == plain OBS updates; == RTN for isotropic H", 2),
        _spec("zero", "zero", "ZeRO-sharded data parallelism on simulated ranks (--set params=...)",
              "same trajectory as plain DP; per-rank bytes match the paper", 1),
        _spec("paged-attention", "paged-attention", "a block table for the KV cache",
              "paged == contiguous; waste < one block; >= 2x concurrency", 2),
        _spec("mamba", "mamba", "the selective state-space scan",
              "recurrence == closed form; delta = 0 leaves the state unchanged; gated-RNN case", 1),
        _spec("performer", "performer", "FAVOR+ random-feature attention",
              "positive, unbiased features; linear time == explicit; error falls about as m^-1/2", 1),
        _spec("distillation", "distilbert", "temperature-scaled soft-target distillation",
              "gradient check; T^2 keeps the gradient scale; soft targets beat hard labels", 3),
        _spec("alibi", "alibi", "attention with linear biases",
              "slopes match the closed form; Toeplitz bias; exp(-m d) decay; causal", 1),
        _spec("sliding-window", "mistral-7b", "sliding-window attention, a rolling KV cache, attention sinks",
              "banded == masked; rolling cache == recomputation at W slots; receptive field L (W - 1)", 1),
        _spec("mla", "deepseek-v2", "multi-head latent attention: a compressed KV cache",
              "absorbed latent attention == explicit; cache d_c + d_R per token; decoupled RoPE", 1),
        _spec("decoding", "gpt-2", "greedy, temperature, top-k, top-p, repetition penalty, beam search",
              "each distribution == its definition; samplers' TV; beam == exhaustive search", 2),
    ]
)
