"""Byte-pair encoding: learn merges of frequent adjacent symbols, then encode and decode losslessly.

Shows the subword algorithm of "Neural Machine Translation of Rare Words with Subword Units"
(Sennrich, Haddow and Birch, arXiv 1508.07909): start from single symbols and repeatedly merge the
most frequent adjacent pair into a new symbol. Run over UTF-8 bytes (as GPT-2 does), every string
is encodable and decode(encode(s)) == s. It also shows the whitespace symbol of "SentencePiece: A
simple and language independent subword tokenizer and detokenizer for Neural Text Processing"
(Kudo and Richardson, arXiv 1808.06226): spaces become "▁" (U+2581), so a piece sequence
detokenizes back to the exact text without language-specific rules.

The tokenizer is trained on the knowledge base's own text (each entry's problem, solution and key
ideas); when the shipped knowledge base has less than ~20 KB of it, the docstrings of evollm's own
modules are added, so the demo also works with an empty knowledge base. One document in ten is held
out to measure compression (UTF-8 bytes per token).

But: no unigram language model (SentencePiece's default algorithm), no byte fallback or vocabulary
cap for the SentencePiece-style tokenizer, no special tokens, and the pre-tokenizing pattern is an
approximation of GPT-2's with Python's `re` (no `\\p{L}`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Repeatedly merging the most frequent adjacent pair builds a subword vocabulary "
    "that encodes any text losslessly and compresses it."
)
EQUATIONS = (
    "merge_k = argmax_pair count(pair) over the training words, after merges 1..k-1  (Sennrich Alg. 1)",
    "encode: apply merges in the order they were learned (fast form: lowest-rank pair first)",
)


@dataclass
class Config:
    """Settings of the BPE demo."""

    seed: int = 0  # unused: BPE training is deterministic (ties go to the first occurrence)
    quick: bool = False  # set by --quick, which applies QUICK
    merges: int = setting(512, "merges learned by the byte-level tokenizer", low=1)
    sentencepiece_merges: int = setting(
        256, "merges of the SentencePiece-style tokenizer", low=1)
    min_kb_bytes: int = setting(
        20_000, "below this much knowledge-base text, add evollm's docstrings", low=0)
    held_out_every: int = setting(
        10, "every n-th document is held out for the compression ratio", low=2)


# --quick: fewer merges. Applied before --set, so --set wins.
QUICK = {"merges": 256, "sentencepiece_merges": 128}


# GPT-2's pre-tokenizer splits text into chunks (contractions, words with their leading space,
# numbers, punctuation runs, whitespace) and merges never cross a chunk. \p{L} is approximated by
# [^\W\d_]; every character matches some branch, so the chunks always concatenate to the text.
SPLIT_PATTERN = re.compile(
    r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")

SPACE = "\u2581"  # SentencePiece's meta symbol "▁" for whitespace

# Algorithm 1 of Sennrich et al. on their toy vocabulary, 10 merges; "</w>" ends a word.
SENNRICH_VOCAB = {"l o w </w>": 5, "l o w e r </w>": 2, "n e w e s t </w>": 6,
                  "w i d e s t </w>": 3}
SENNRICH_MERGES = ["es", "est", "est</w>", "lo", "low", "ne", "new", "newest</w>", "low</w>", "wi"]

# Strings that break naive tokenizers: empty, emoji with zero-width joiners, flags, CJK, combining
# marks, right-to-left text, control characters, CRLF, runs of spaces and tabs, the top code point.
TORTURE = [
    "",
    "?",
    "hello world!!!? (안녕하세요!) lol123 😉",
    "👩\u200d👩\u200d👧\u200d👦 family, 🇯🇵 flag, 🏳️\u200d🌈",
    "漢字、ひらがな、カタカナ。中文测试",
    "e\u0301 (e + combining acute) vs \u00e9; Z\u0364\u0351\u0313a\u0308\u0356lgo\u0328",
    "line one\r\nline two\rthree\n\n",
    "   runs    of     spaces   ",
    "\t\ttabs\tand\vvertical\fform feed",
    "\u0645\u0631\u062d\u0628\u0627 \u200fRTL\u200e marks",
    "\ufeffBOM, \x00 NUL, \x7f DEL, \u00a0no-break\u2009thin\u3000ideographic space",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 letters, \ufb01 ligature, x\u00b2, \u00bd, \u2167, ٣ Arabic-Indic digit",
    "don't we'll they're I'M __dunder__ snake_case 3.14159e-10",
    "\U0010ffff \U0001f600\U0001f3fb",
]


# ---------------------------------------------------------------------------------------------
# Training: Algorithm 1 with incremental pair counts


def pair_counts(words: list[list], freqs: list[int], i: int, sign: int, counts: dict, where: dict):
    """Add (sign=+1) or remove (-1) word i's adjacent pairs, overlapping ones included."""
    symbols, f = words[i], freqs[i]
    for pair in zip(symbols, symbols[1:]):
        c = counts.get(pair, 0) + sign * f
        if sign > 0:
            where.setdefault(pair, set()).add(i)
        elif pair in where:  # the whole word is removed, so it no longer holds any pair
            where[pair].discard(i)
            if not where[pair]:
                del where[pair]
        if c:
            counts[pair] = c
        else:
            del counts[pair]


def merge_pair(symbols: list, pair: tuple, new) -> list:
    """Replace every non-overlapping occurrence of `pair`, left to right, by `new`."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def first_position(symbols: list, pair: tuple) -> int:
    return next(j for j in range(len(symbols) - 1) if (symbols[j], symbols[j + 1]) == pair)


def learn_merges(words: dict[tuple, int], n_merges: int, new_symbol: Callable[[tuple, int], Hashable],
                 progress: Callable[[float], None] = lambda f: None,
                 symbols_left: list[int] | None = None) -> list[tuple[tuple, Hashable]]:
    """The first `n_merges` merges, as (pair, new symbol), of Algorithm 1 of Sennrich et al.

    `words` maps a word (a tuple of symbols) to its frequency, in the order the words were first
    seen. Each step merges the most frequent adjacent pair; ties go to the pair seen first (first
    word, then first position), which is what the paper's `max(pairs, key=pairs.get)` does. Only
    the words that contain the merged pair are recounted. If `symbols_left` is a list, the
    number of symbols the training text is left with is appended to it.
    """
    seqs, freqs = [list(w) for w in words], list(words.values())
    counts: dict[tuple, int] = {}
    where: dict[tuple, set[int]] = {}
    for i in range(len(seqs)):
        pair_counts(seqs, freqs, i, +1, counts, where)
    merges = []
    for step in range(n_merges):
        if not counts:
            break
        top = max(counts.values())
        tied = [p for p, c in counts.items() if c == top]
        best = min(tied, key=lambda p: (min(where[p]), first_position(seqs[min(where[p])], p)))
        new = new_symbol(best, step)
        for i in sorted(where[best]):
            pair_counts(seqs, freqs, i, -1, counts, where)
            seqs[i] = merge_pair(seqs[i], best, new)
            pair_counts(seqs, freqs, i, +1, counts, where)
        merges.append((best, new))
        if step % 32 == 0:
            progress(step / n_merges)
    if symbols_left is not None:
        symbols_left.append(sum(len(seq) * f for seq, f in zip(seqs, freqs)))
    return merges


def merges_in_order(symbols: list, merges: list[tuple[tuple, Hashable]]) -> list:
    """Encode one chunk the plain way: every merge, in the order it was learned, over the chunk.
    This is what training did to the training text, so it defines the right encoding."""
    for pair, new in merges:
        if pair in set(zip(symbols, symbols[1:])):
            symbols = merge_pair(symbols, pair, new)
    return symbols


def apply_merges(symbols: list, ranks: dict[tuple, int], merged: dict[tuple, Hashable]) -> list:
    """Encode one chunk: repeatedly merge the adjacent pair that was learned earliest. Equal to
    `merges_in_order`, since a pair holding a merge's new symbol was learned after that merge,
    but it looks only at the pairs the chunk has."""
    while len(symbols) >= 2:
        pair = min(zip(symbols, symbols[1:]), key=lambda p: ranks.get(p, float("inf")))
        if pair not in ranks:
            break
        symbols = merge_pair(symbols, pair, merged[pair])
    return symbols


# ---------------------------------------------------------------------------------------------
# Byte-level BPE (GPT-2 / minbpe style): ids 0..255 are bytes, merge i creates id 256 + i


class ByteBPE:
    def __init__(self, merges: list[tuple[tuple[int, int], int]], split: bool = True):
        self.split = split
        self.merges = merges
        self.train_symbols: int | None = None  # symbols the training text was left with
        self.ranks = {pair: rank for rank, (pair, _) in enumerate(merges)}
        self.merged = dict(merges)
        self.vocab = {i: bytes([i]) for i in range(256)}  # id -> the bytes it stands for
        for (a, b), new in merges:
            self.vocab[new] = self.vocab[a] + self.vocab[b]
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, n_merges: int, split: bool = True, progress=lambda f: None):
        words: dict[tuple, int] = {}
        for chunk in chunks(text, split):
            key = tuple(chunk.encode("utf-8"))
            words[key] = words.get(key, 0) + 1
        left: list[int] = []
        tok = cls(learn_merges(words, n_merges, lambda pair, step: 256 + step, progress, left), split)
        tok.train_symbols = left[0]
        return tok

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in chunks(text, self.split):
            if chunk not in self._cache:
                self._cache[chunk] = apply_merges(list(chunk.encode("utf-8")), self.ranks,
                                                  self.merged)
            ids.extend(self._cache[chunk])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")


def chunks(text: str, split: bool = True) -> list[str]:
    if not split:
        return [text] if text else []
    return SPLIT_PATTERN.findall(text)


# ---------------------------------------------------------------------------------------------
# SentencePiece-style BPE over characters, with whitespace as the visible symbol "▁"


def sp_normalize(text: str) -> str:
    """Spaces become "▁", and a "▁" is prefixed so the first word looks like the others."""
    return SPACE + text.replace(" ", SPACE)


def sp_pieces(normalized: str) -> list[str]:
    """Split before every "▁" (SentencePiece's split_by_whitespace): "▁a▁▁b" -> ▁a, ▁, ▁b."""
    return re.findall(f"{SPACE}[^{SPACE}]*|[^{SPACE}]+", normalized)


class SentencePieceBPE:
    def __init__(self, merges: list[tuple[tuple[str, str], str]]):
        self.ranks = {pair: rank for rank, (pair, _) in enumerate(merges)}
        self.merged = dict(merges)

    @classmethod
    def train(cls, text: str, n_merges: int):
        words: dict[tuple, int] = {}
        for piece in sp_pieces(sp_normalize(text)):
            words[tuple(piece)] = words.get(tuple(piece), 0) + 1
        return cls(learn_merges(words, n_merges, lambda pair, step: pair[0] + pair[1]))

    def encode(self, text: str) -> list[str]:
        out: list[str] = []
        for piece in sp_pieces(sp_normalize(text)):
            out.extend(apply_merges(list(piece), self.ranks, self.merged))
        return out

    @staticmethod
    def decode(pieces: list[str]) -> str:
        text = "".join(pieces).replace(SPACE, " ")
        return text[1:] if text.startswith(" ") else text  # drop the dummy prefix


# ---------------------------------------------------------------------------------------------
# The corpus: the knowledge base's own words, else evollm's docstrings


def knowledge_base_documents() -> list[str]:
    """problem, solution and key ideas of every shipped entry, one document per entry."""
    import yaml

    from evollm.kb import MAX_FILE_BYTES, _package_data

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = []
    for path in sorted(_package_data().glob("*.yaml")):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # `evollm validate` reports broken files; the demo just skips them
        if not isinstance(data, dict):
            continue
        ideas = data.get("key_ideas") or []
        parts = [data.get("problem"), data.get("solution"), *(ideas if isinstance(ideas, list) else [])]
        text = "\n".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        if text:
            docs.append(text)
    return docs


def docstring_documents() -> list[str]:
    """The docstrings of evollm's own modules, classes and functions (read with ast, not imported)."""
    import evollm

    docs = []
    for path in sorted(Path(evollm.__file__).resolve().parent.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    docs.append(doc)
    return docs


def corpus(min_kb_bytes: int) -> tuple[list[str], str]:
    docs = knowledge_base_documents()
    source = f"knowledge base ({len(docs)} entries)"
    if sum(len(d.encode()) for d in docs) < min_kb_bytes:
        docs = docs + docstring_documents()
        source += " + evollm docstrings"
    return docs, source


# ---------------------------------------------------------------------------------------------


def sennrich_toy() -> list[str]:
    words = {tuple(w.split()): f for w, f in SENNRICH_VOCAB.items()}
    return [new for _, new in learn_merges(words, 10, lambda pair, step: pair[0] + pair[1])]


def readable(token: bytes) -> str:
    """A byte token as text, with a space shown as "␣" and a newline as "\\n"."""
    return token.decode("utf-8", errors="backslashreplace").replace(" ", "\u2423").replace("\n", "\\n")


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    n_merges, n_sp = config.merges, config.sentencepiece_merges

    # 1. The Wikipedia example (as in minbpe's tests): no pre-splitting, three merges.
    toy = ByteBPE.train("aaabdaaabac", 3, split=False)
    toy_ids = toy.encode("aaabdaaabac")
    # 2. Sennrich et al.'s toy vocabulary.
    toy_merges = sennrich_toy()

    # 3. The knowledge base's own text.
    docs, source = corpus(config.min_kb_bytes)
    every = config.held_out_every
    train_docs = [d for i, d in enumerate(docs) if i % every != every - 1]
    held_docs = [d for i, d in enumerate(docs) if i % every == every - 1]
    train_text, held_text = "\n\n".join(train_docs), "\n\n".join(held_docs)
    tok = ByteBPE.train(train_text, n_merges, progress=lambda f: report(0.8 * f))
    held_ids = tok.encode(held_text)
    compression = len(held_text.encode("utf-8")) / max(len(held_ids), 1)
    train_compression = len(train_text.encode("utf-8")) / max(tok.train_symbols or 1, 1)
    # The fast encoder (lowest-rank pair first) against the plain one (merges in learned order),
    # on every distinct held-out chunk and the torture strings.
    distinct = set(chunks(held_text + "".join(TORTURE)))
    order_mismatches = sum(tok.encode(c) != merges_in_order(list(c.encode("utf-8")), tok.merges)
                           for c in distinct)
    round_trip_failures = [s for s in TORTURE + [held_text] if tok.decode(tok.encode(s)) != s]

    sp = SentencePieceBPE.train(train_text, n_sp)
    report(0.95)
    whitespace = ["", " ", "  ", "a b", " leading", "trailing ", "two  spaces", "   three   ",
                  "tab\tand\nnewline", " \t \n "] + TORTURE
    sp_failures = [s for s in whitespace if SPACE not in s and sp.decode(sp.encode(s)) != s]

    sample = "Byte-pair encoding merges the most frequent pair of adjacent symbols."
    merges = [readable(tok.vocab[256 + i]) for i in range(min(12, n_merges))]
    lengths = [len(tok.vocab[i]) for i in range(256, 256 + len(tok.ranks))]
    report(1.0)
    return Result(
        checks=[
            check("'aaabdaaabac', 3 merges == [258, 100, 258, 97, 99]",
                  float(toy_ids == [258, 100, 258, 97, 99]), "==", 1.0),
            check("Sennrich toy: merges equal to the paper's 10", sum(
                a == b for a, b in zip(toy_merges, SENNRICH_MERGES)) if len(toy_merges) == 10
                else 0, "==", 10),
            check(f"byte-level round trip failures ({len(TORTURE) + 1} strings)",
                  len(round_trip_failures), "==", 0),
            check(f"SentencePiece '{SPACE}' round trip failures", len(sp_failures), "==", 0),
            check(f"fast encoding != merges applied in learned order ({len(distinct)} chunks)",
                  order_mismatches, "==", 0),
            check("compression on held-out text (bytes per token)", compression, ">", 1.5),
            check("held-out compression / the training text's after training (bytes per token)",
                  compression / train_compression, ">=", 0.9),
        ],
        metrics={
            "corpus": source,
            "train_bytes": len(train_text.encode("utf-8")),
            "held_out_bytes": len(held_text.encode("utf-8")),
            "merges": len(tok.ranks),
            "compression_bytes_per_token": compression,
            "training_text_compression": train_compression,
            "first_merges": " ".join(merges),
            "sennrich_merges": " ".join(toy_merges),
            "sample_byte_level": "|".join(readable(tok.vocab[i]) for i in tok.encode(sample)),
            "sample_sentencepiece": "|".join(sp.encode(sample)),
            "longest_token": readable(max(tok.vocab.values(), key=len)),
        },
        charts=[
            Chart("bytes per learned token, in merge order", "line",
                  x=[float(i) for i in range(len(lengths))], y=[float(n) for n in lengths]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
