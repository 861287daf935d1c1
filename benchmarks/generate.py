"""Write a synthetic knowledge base of N valid entries (lineage, families, uses) for benchmarks.

    python benchmarks/generate.py 10000 /tmp/kb10k

Entries are spread over 2017-2025 in date order; each after the first has one to three parents
chosen among earlier entries, so the lineage is a DAG that passes every rule of `evollm validate`.
Some of them are named ppo, bert and attention-like words so the benchmarked commands find work.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

FAMILIES = ["GPT", "BERT", "T5", "LLaMA", "Mistral", "Qwen", "DeepSeek", "Claude", "PaLM", "Gemma"]
KINDS = ["model", "method", "architecture", "system", "dataset", "benchmark", "analysis"]
TOPICS = ["attention", "scaling", "alignment", "efficiency", "reasoning", "pretraining", "long-context"]
WORDS = ("attention transformer scaling sparse mixture expert decoder encoder retrieval reasoning "
         "alignment preference reward policy gradient quantization distillation rotary memory").split()
RELATIONS = ["builds-on", "extends", "improves", "scales", "fine-tunes", "combines"]


def entry_yaml(i: int, n: int, rng: random.Random, ids: list[str], dates: list[str]) -> str:
    entry_id = ids[i]
    words = " ".join(rng.choice(WORDS) for _ in range(12))
    lines = [
        f"id: {entry_id}",
        f"name: {entry_id.upper() if i > 2 else entry_id.upper()}",
        f"title: Synthetic paper {i} on {words[:60]}",
        f"date: {dates[i]}",
        f"labs: [Lab {i % 37}, University {i % 53}]",
        f"kind: {KINDS[i % len(KINDS)]}",
        f"authors: [Author {i} A, Author {i} B, Author {i} C]",
        f"aliases: [alias-{i}]",
        f"family: {FAMILIES[i % len(FAMILIES)]}" if i % 3 == 0 else "",
        f"topics: [{TOPICS[i % len(TOPICS)]}, {TOPICS[(i * 7) % len(TOPICS)]}]",
        f"problem: The problem of entry {i} concerns {words}. It was hard for earlier work.",
        f"solution: Entry {i} proposes {words[::-1]} and shows that it helps at scale.",
        "key_ideas:",
        *[f"  - Idea {k} of entry {i}, {rng.choice(WORDS)} {rng.choice(WORDS)}." for k in range(3)],
        f"params: [{{label: base, total: {rng.randint(1, 900)}M}}]",
        f"links: {{paper: 'https://example.org/paper/{i}'}}",
        f"sources: ['https://example.org/paper/{i}']",
    ]
    if i:
        parents = sorted(set(rng.randrange(max(0, i - 200), i) for _ in range(rng.randint(1, 3))))
        lines.append("lineage:")
        lines += [f"  - {{id: {ids[p]}, relation: {rng.choice(RELATIONS)}, note: takes idea {p}}}" for p in parents]
        used = sorted(set(rng.randrange(0, i) for _ in range(2)))
        lines.append(f"uses: [{', '.join(ids[u] for u in used)}]")
    return "\n".join(line for line in lines if line) + "\n"


def generate(n: int, out: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    named = {0: "transformer", 1: "bert", 2: "ppo"}
    ids = [named.get(i, f"paper-{i:05d}") for i in range(n)]
    months = [(2017 + m // 12, m % 12 + 1) for m in range(6, 12 * 9)]  # 2017-07 .. 2025-12
    dates = [f"{y}-{mo:02d}" for y, mo in (months[i * len(months) // n] for i in range(n))]
    for i in range(n):
        (out / f"{ids[i]}.yaml").write_text(entry_yaml(i, n, rng, ids, dates), encoding="utf-8")


if __name__ == "__main__":
    generate(int(sys.argv[1]), Path(sys.argv[2]))
