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
    typical_seconds: float  # a full run: CPU seconds measured on the project's 2-core machine
    quick_seconds: float  # the same for --quick

    def to_json(self) -> dict:
        return {"name": self.name, "entry": self.entry, "shows": self.shows, "checks": self.checks,
                "typical_seconds": self.typical_seconds, "quick_seconds": self.quick_seconds}

    @property
    def module(self) -> str:
        """The module under evollm.demos that holds `Config` and `run`."""
        return "evollm.demos." + self.name.replace("-", "_")


def _spec(name: str, entry: str, shows: str, checks: str, seconds: float,
          quick: float) -> tuple[str, DemoSpec]:
    return name, DemoSpec(name, entry, shows, checks, seconds, quick)


DEMOS: dict[str, DemoSpec] = dict(
    [
        _spec("ppo", "ppo", "PPO's clipped objective learns CartPole-v1",
              "gradient check; clip ablation; solved: last 100 training episodes >= 475", 22, 2.5),
        _spec("transformer", "transformer", "scaled dot-product and multi-head attention",
              "vectorized == loop; causal mask leaks nothing; equivariance; logit scale", 0.4, 0.3),
        _spec("flash-attention", "flash-attention", "tiled attention with an online softmax",
              "equals naive attention; logsumexp; counted memory traffic", 1.9, 0.9),
        _spec("kv-cache", "mqa", "KV caching with multi-head, grouped and multi-query attention",
              "cached == recomputed tokens; >= 3x fewer multiply-adds; cache bytes H:G:1", 4.8, 1.7),
        _spec("rlhf", "rlhf", "a Bradley-Terry reward model learned from preferences",
              "gradient check; held-out agreement and correlation with the true reward >= 0.9", 0.4, 0.3),
        _spec("dpo", "dpo", "direct preference optimization of a log-linear policy",
              "loss starts at ln 2 and falls; implicit reward correlates >= 0.9; gradient check", 0.5, 0.4),
        _spec("grpo", "deepseekmath", "group-relative policy optimization on a verifiable task",
              "gradient check; clip and KL ablations; advantages mean 0 / std 1; accuracy 1% -> >= 95%", 2.4, 1.6),
        _spec("lora", "lora", "low-rank adapters on a frozen weight",
              "gradient check; B = 0 leaves output unchanged; merged == adapter; recovers the update", 1.2, 0.7),
        _spec("rope", "rope", "rotary position embeddings",
              "frequencies == base^(-2(i-1)/d); scores depend only on m - n; layouts agree", 0.4, 0.3),
        _spec("moe", "moe", "noisy top-k gating and load balancing",
              "gate gradient checks; k gates per token; balanced load; ablations; beats dense", 18, 3),
        _spec("bpe", "bpe", "byte-level BPE trained on the knowledge base's own text",
              "known merges; encoding == merges in learned order; lossless; held-out compression", 2.3, 1.2),
        _spec("speculative-decoding", "speculative-decoding", "draft-then-verify decoding",
              "greedy equality; TV distance <= 0.01; tokens per call formula", 4.5, 1.1),
        _spec("chinchilla", "chinchilla", "compute-optimal model and data size (--set flops=1e24)",
              "closed form == IsoFLOP search; refit recovers exponents", 0.7, 0.4),
        _spec("gptq", "gptq", "error-compensating 4- and 3-bit quantization",
              "GPTQ error <= 0.35x round-to-nearest; == plain OBS updates; == RTN for isotropic H", 7.2, 0.4),
        _spec("zero", "zero", "ZeRO-sharded data parallelism on simulated ranks (--set params=...)",
              "backprop check; same trajectory as plain DP; per-rank bytes match the paper", 1.9, 0.6),
        _spec("paged-attention", "paged-attention", "a block table for the KV cache",
              "paged == contiguous; waste < one block; >= 2x concurrency", 3, 1),
        _spec("mamba", "mamba", "the selective state-space scan",
              "recurrence == closed form; delta = 0 leaves the state unchanged; gated-RNN case", 0.5, 0.4),
        _spec("performer", "performer", "FAVOR+ random-feature attention",
              "positive, unbiased features; linear time == explicit; error falls about as m^-1/2", 0.6, 0.7),
        _spec("distillation", "distilbert", "temperature-scaled soft-target distillation",
              "gradient check; T^2 keeps the gradient scale; soft targets beat hard labels", 2.7, 1.6),
        _spec("alibi", "alibi", "attention with linear biases",
              "slopes match the closed form; Toeplitz bias; exp(-m d) decay; causal", 0.3, 0.3),
        _spec("sliding-window", "mistral-7b", "sliding-window attention, a rolling KV cache, attention sinks",
              "banded == masked; rolling cache == recomputation at W slots; receptive field L (W - 1); "
              "sinks stay close to full attention, a plain window does not", 0.5, 0.4),
        _spec("mla", "mla", "multi-head latent attention: a compressed KV cache",
              "absorbed latent attention == explicit; cache d_c + d_R per token; decoupled RoPE", 0.3, 0.3),
        _spec("self-consistency", "self-consistency", "majority vote over sampled reasoning paths",
              "vote == exact multinomial; gains when the right answer is the mode, losses if not", 1, 1),
        _spec("tensor-parallel", "megatron-lm", "Megatron's tensor parallelism on simulated ranks; GPipe's bubble",
              "split == whole outputs and gradients; 2 + 2 all-reduces; why A splits by columns; "
              "simulated pipeline idles (p - 1) / (m + p - 1)", 1, 1),
        _spec("quantization", "llm-int8", "absmax and zero-point int8, LLM.int8()'s outlier split, "
              "SmoothQuant, QLoRA's NF4",
              "int8 within half a step; 16-bit outlier columns beat plain int8; smoothing keeps X W "
              "and lowers int8 error; NF4 == normal quantiles; bits per weight", 0.7, 0.5),
        _spec("rope-scaling", "yarn", "longer contexts for RoPE: interpolation, NTK-aware scaling, YaRN",
              "angles stay in the trained range; high frequencies kept by NTK and YaRN, not by "
              "interpolation; YaRN's ramp and temperature; decay with base 1e6", 0.4, 0.4),
        _spec("tiny-gpt", "gpt-1", "a small GPT (RoPE, RMSNorm, SwiGLU, AdamW, cosine schedule) "
              "trained on shipped text, backprop by hand",
              "whole-model gradient check; causal; held-out loss below the best bigram's; samples "
              "more likely under the text's bigram model than before training", 10, 1.1),
        _spec("decoding", "nucleus-sampling", "greedy, temperature, top-k, top-p, repetition penalty, beam search",
              "each distribution == its definition; samplers' TV; beam == exhaustive search", 0.5, 0.4),
    ]
)
