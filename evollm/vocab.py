"""The controlled vocabularies of the knowledge base, each kept in exactly one place.

Every other module (schema, renderers, exporters, tests) imports these tuples; adding a value
here is the only change needed to allow it everywhere.
"""

KINDS = ("model", "method", "architecture", "system", "dataset", "benchmark", "analysis")

ARCHITECTURES = ("encoder", "decoder", "encoder-decoder", "hybrid", "state-space", "none")

LINK_KINDS = ("paper", "code", "blog", "docs", "weights", "model_card")

# How a child relates to a parent in `lineage`.
RELATIONS = {
    "builds-on": "takes the parent's idea as its foundation",
    "extends": "adds new machinery to the parent's method",
    "fine-tunes": "starts from the parent's weights and trains further",
    "distills": "learns from the parent as a teacher",
    "scales": "same recipe as the parent, made larger",
    "replaces": "the next release in the parent's line",
    "improves": "fixes a weakness of the parent (speed, memory, stability)",
    "combines": "merges the parent with other ideas",
    "applies": "uses the parent's method for a new purpose or domain",
    "evaluates": "measures or analyses the parent",
}

TOPICS = (
    "activation",
    "agents",
    "alignment",
    "attention",
    "audio",
    "benchmark",
    "chat",
    "code",
    "compression",
    "data",
    "diffusion",
    "distillation",
    "efficiency",
    "evaluation",
    "fine-tuning",
    "image-generation",
    "inference",
    "instruction-tuning",
    "interpretability",
    "long-context",
    "math",
    "mixture-of-experts",
    "multilingual",
    "multimodal",
    "normalization",
    "open-weights",
    "optimization",
    "parallelism",
    "parameter-efficient",
    "position-encoding",
    "pretraining",
    "prompting",
    "quantization",
    "reasoning",
    "reinforcement-learning",
    "retrieval",
    "rlhf",
    "safety",
    "scaling",
    "serving",
    "state-space",
    "tokenization",
    "training",
    "video",
    "vision",
)

STATUSES = ("draft",)

# The numbers of the evolution an entry may carry besides `params`, in the order `show` prints
# them: field -> (label, unit). Each is a list of {label?, value, source, note?, estimated?}.
MEASURES = {
    "context": ("Context", "tokens"),
    "training_tokens": ("Training tokens", "tokens"),
    "training_compute": ("Training compute", "FLOP"),
}
