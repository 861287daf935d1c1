"""The BPE demo against literal ports of the two reference algorithms and lossless round trips."""

import re
from collections import Counter

from evollm.demos import bpe


def sennrich_algorithm_1(vocab: dict[str, int], n: int) -> list[str]:
    """The paper's Algorithm 1, nearly verbatim: recount every pair, merge with a regex."""

    def get_stats(vocab):
        pairs: dict[tuple[str, str], int] = {}
        for word, freq in vocab.items():
            symbols = word.split()
            for i in range(len(symbols) - 1):
                pairs[symbols[i], symbols[i + 1]] = pairs.get((symbols[i], symbols[i + 1]), 0) + freq
        return pairs

    def merge_vocab(pair, v_in):
        bigram = re.escape(" ".join(pair))
        p = re.compile(r"(?<!\S)" + bigram + r"(?!\S)")
        return {p.sub("".join(pair), word): freq for word, freq in v_in.items()}

    merges = []
    for _ in range(n):
        pairs = get_stats(vocab)
        if not pairs:
            break
        best = max(pairs, key=pairs.get)
        vocab = merge_vocab(best, vocab)
        merges.append("".join(best))
    return merges


def minbpe_basic_train(text: str, n: int) -> list[tuple[tuple[int, int], int]]:
    """minbpe's BasicTokenizer.train: recount all pairs of one byte sequence at every step."""
    ids, merges = list(text.encode("utf-8")), []
    for i in range(n):
        stats: dict[tuple[int, int], int] = {}
        for pair in zip(ids, ids[1:]):
            stats[pair] = stats.get(pair, 0) + 1
        if not stats:
            break
        pair = max(stats, key=stats.get)
        ids = bpe.merge_pair(ids, pair, 256 + i)
        merges.append((pair, 256 + i))
    return merges


TEXT = ("the cat sat on the mat; the rat sat on the hat. the end, the end! "
        "low lower lowest newer newest wider widest aaabdaaabac ") * 3


def test_toy_examples_give_the_published_answers():
    toy = bpe.ByteBPE.train("aaabdaaabac", 3, split=False)
    assert toy.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert bpe.sennrich_toy() == bpe.SENNRICH_MERGES


def test_incremental_training_equals_sennrich_algorithm_1():
    words = Counter(" ".join(w) + " </w>" for w in TEXT.split())
    expected = sennrich_algorithm_1(dict(words), 40)
    learned = bpe.learn_merges({tuple(w.split()): f for w, f in words.items()}, 40,
                               lambda pair, step: pair[0] + pair[1])
    assert [new for _, new in learned] == expected


def test_incremental_training_equals_minbpe_basic_tokenizer():
    assert bpe.ByteBPE.train(TEXT, 60, split=False).merged == dict(minbpe_basic_train(TEXT, 60))


def test_pre_tokenizer_chunks_cover_every_character():
    for s in bpe.TORTURE:
        assert "".join(bpe.chunks(s)) == s


def test_round_trips_and_a_broken_decoder_fails():
    tok = bpe.ByteBPE.train(TEXT, 50)
    for s in bpe.TORTURE:
        assert tok.decode(tok.encode(s)) == s
    sp = bpe.SentencePieceBPE.train(TEXT, 30)
    assert sp.decode(sp.encode("  two  spaces ")) == "  two  spaces "
    assert "▁" in "".join(sp.encode("a b"))
    # A decoder that forgets the dummy prefix does not round-trip: the check can fail.
    assert "".join(sp.encode("a b")).replace("▁", " ") != "a b"
