"""PagedAttention: keep the KV cache in fixed-size blocks found through a per-sequence block table.

Shows the memory manager of "Efficient Memory Management for Large Language Model Serving with
PagedAttention" (Kwon et al., arXiv 2309.06180), the paper behind vLLM. Instead of reserving one
contiguous stretch of KV memory per request for the longest possible output, the cache is cut
into blocks of B tokens; a sequence's block table maps its logical blocks to physical blocks
allocated on demand, so at most one partly filled block per sequence is wasted. Blocks are
reference-counted, so parallel samples of one prompt share its blocks, and a shared block is
copied only when a sample writes into it (copy-on-write).

The demo (a) decodes several sequences, and forks of them, into one physical pool and checks that
attention read block by block through the tables equals attention over a contiguous cache, and
(b) serves the same stream of requests with max-length reservation and with paging, counting how
many sequences run at once and how much of the reserved memory holds tokens.

But: attention runs in numpy on random keys and values, with no model, no GPU kernel and no
swapping to CPU memory (preempted sequences are recomputed, one of vLLM's two options); the
scheduler is a plain first-come-first-served loop with one token per running sequence per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Storing the KV cache in fixed-size blocks through a block table wastes less than "
    "one block per sequence, shares prompts copy-on-write, and serves at least twice "
    "as many sequences."
)
EQUATIONS = (
    "physical block = block_table[seq][position // block_size], slot = position % block_size",
    "waste per sequence < block_size tokens",
)


@dataclass
class Config:
    """Settings of the PagedAttention demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    block_size: int = setting(16, "tokens per KV block (vLLM's default)", low=1)
    heads: int = setting(4, "attention heads of the toy cache", low=1)
    head_dim: int = setting(32, "width of one head", low=1)
    pool_blocks: int = setting(256, "physical blocks in the pool of part (a)", low=16)
    sequences: int = setting(
        6, "sequences decoded in part (a), two of them forked into 4 samples", low=2)
    decode_steps: int = setting(120, "decoding steps in part (a)", low=1)
    kv_capacity_tokens: int = setting(32_768, "KV memory of part (b), in tokens", low=1)
    max_len: int = setting(
        2048, "the longest sequence a request may reach (reserved up front)", low=2)
    prompt_range: tuple[int, ...] = setting((50, 500), "prompt lengths, uniform", low=1)
    output_range: tuple[int, ...] = setting(
        (50, 500), "output lengths, uniform (unknown to the scheduler)", low=1)
    requests: int = setting(1500, "requests served in part (b)", low=1)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = []
        for name in ("prompt_range", "output_range"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                out.append(f"{name}: expected two lengths LOW,HIGH with LOW <= HIGH; got {value}")
        if not out and self.prompt_range[1] + self.output_range[1] > self.max_len:
            out.append(f"max_len: {self.max_len} is shorter than the longest request "
                       f"({self.prompt_range[1] + self.output_range[1]} tokens)")
        # Part (a) runs sequences + 6 forks of up to 60 + decode_steps tokens, plus a block each
        # for copy-on-write.
        need = (self.sequences + 6) * (math.ceil((60 + self.decode_steps) / self.block_size) + 1)
        if self.pool_blocks < need:
            out.append(f"pool_blocks: {self.pool_blocks} is too few for part (a); it needs {need} "
                       f"with block_size = {self.block_size} and decode_steps = {self.decode_steps}")
        if self.kv_capacity_tokens < self.max_len:
            out.append(f"kv_capacity_tokens: {self.kv_capacity_tokens} holds less than one "
                       f"max_len = {self.max_len} sequence")
        return out

# --quick: fewer steps and requests. Applied before --set, so --set wins.
QUICK = {"decode_steps": 60, "requests": 400}


class OutOfBlocks(Exception):
    """The pool has no free block."""


class BlockAllocator:
    """A free list of physical blocks with reference counts."""

    def __init__(self, num_blocks: int):
        self.free_list = list(range(num_blocks - 1, -1, -1))  # pop() hands out block 0 first
        self.refcount = np.zeros(num_blocks, dtype=np.int64)

    def allocate(self) -> int:
        if not self.free_list:
            raise OutOfBlocks
        block = self.free_list.pop()
        self.refcount[block] = 1
        return block

    def share(self, block: int) -> None:
        self.refcount[block] += 1

    def release(self, block: int) -> None:
        self.refcount[block] -= 1
        if self.refcount[block] == 0:
            self.free_list.append(block)


class PagedKVCache:
    """A physical pool (num_blocks, B, H, d) for K and V, and one block table per sequence."""

    def __init__(self, num_blocks: int, block_size: int, heads: int, head_dim: int):
        self.block_size = block_size
        self.k = np.zeros((num_blocks, block_size, heads, head_dim))  # (N_blocks, B, H, d)
        self.v = np.zeros_like(self.k)
        self.allocator = BlockAllocator(num_blocks)
        self.tables: dict[int, list[int]] = {}  # sequence -> physical block of each logical block
        self.lengths: dict[int, int] = {}
        self.copies = 0  # copy-on-write events

    def add(self, seq: int) -> None:
        self.tables[seq], self.lengths[seq] = [], 0

    def fork(self, parent: int, child: int) -> None:
        """The child shares all of the parent's blocks (parallel sampling)."""
        for block in self.tables[parent]:
            self.allocator.share(block)
        self.tables[child] = list(self.tables[parent])
        self.lengths[child] = self.lengths[parent]

    def append(self, seq: int, k: np.ndarray, v: np.ndarray) -> None:
        """Write one token's k, v (H, d): a new block when the last is full, a copy if it is shared."""
        table, n = self.tables[seq], self.lengths[seq]
        slot = n % self.block_size
        if slot == 0:
            table.append(self.allocator.allocate())
        elif self.allocator.refcount[table[-1]] > 1:  # copy-on-write
            old, new = table[-1], self.allocator.allocate()
            self.k[new], self.v[new] = self.k[old], self.v[old]
            self.allocator.release(old)
            table[-1] = new
            self.copies += 1
        self.k[table[-1], slot], self.v[table[-1], slot] = k, v
        self.lengths[seq] = n + 1

    def free(self, seq: int) -> None:
        for block in self.tables.pop(seq):
            self.allocator.release(block)
        del self.lengths[seq]

    def waste(self, seq: int) -> int:
        """Slots reserved for the sequence that hold no token of it."""
        return len(self.tables[seq]) * self.block_size - self.lengths[seq]


def paged_attention(q: np.ndarray, cache: PagedKVCache, seq: int) -> np.ndarray:
    """softmax(q K^T / sqrt(d)) V for one query (H, d), reading K and V block by block."""
    n, bs = cache.lengths[seq], cache.block_size
    scores, values = [], []
    for j, block in enumerate(cache.tables[seq]):  # logical block j lives in physical `block`
        valid = min(bs, n - j * bs)
        k = cache.k[block, :valid]  # (valid, H, d)
        scores.append(np.einsum("hd,thd->ht", q, k) / math.sqrt(q.shape[-1]))  # (H, valid)
        values.append(cache.v[block, :valid])
    s = np.concatenate(scores, axis=1)  # (H, T)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.einsum("ht,thd->hd", p, np.concatenate(values, axis=0))  # (H, d)


def contiguous_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The same attention over a contiguous cache k, v (T, H, d)."""
    s = np.einsum("hd,thd->ht", q, k) / math.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=1, keepdims=True))
    return np.einsum("ht,thd->hd", p / p.sum(axis=1, keepdims=True), v)


def decode_and_compare(cfg: Config, rng, steps: int):
    """Part (a): interleaved decoding with forks; (max |paged - contiguous|, max waste, stats)."""
    cache = PagedKVCache(cfg.pool_blocks, cfg.block_size, cfg.heads, cfg.head_dim)
    shape = (cfg.heads, cfg.head_dim)
    contiguous: dict[int, list] = {}
    next_id = 0

    def new_sequence(prompt_len):
        nonlocal next_id
        seq, next_id = next_id, next_id + 1
        cache.add(seq)
        contiguous[seq] = [[], []]
        for _ in range(prompt_len):
            k, v = rng.normal(size=shape), rng.normal(size=shape)
            cache.append(seq, k, v)
            contiguous[seq][0].append(k)
            contiguous[seq][1].append(v)
        return seq

    live = [new_sequence(int(rng.integers(5, 60))) for _ in range(cfg.sequences)]
    shared_prompt_blocks = []
    for parent in live[:2]:  # parallel sampling: 3 more samples of the first two prompts
        shared_prompt_blocks.append(len(cache.tables[parent]))
        for _ in range(3):
            child, next_id = next_id, next_id + 1
            cache.fork(parent, child)
            contiguous[child] = [list(contiguous[parent][0]), list(contiguous[parent][1])]
            live.append(child)

    worst, waste = 0.0, 0
    for step in range(steps):
        for seq in list(live):
            k, v, q = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
            cache.append(seq, k, v)
            contiguous[seq][0].append(k)
            contiguous[seq][1].append(v)
            paged = paged_attention(q, cache, seq)
            plain = contiguous_attention(q, np.array(contiguous[seq][0]), np.array(contiguous[seq][1]))
            worst = max(worst, float(np.max(np.abs(paged - plain))))
            waste = max(waste, cache.waste(seq))
        if step % 40 == 39 and len(live) > 2:  # finish a sequence now and then, start another
            cache.free(live.pop(int(rng.integers(len(live)))))
            live.append(new_sequence(int(rng.integers(5, 60))))
    for seq in live:
        cache.free(seq)
    leaked = int(len(cache.allocator.refcount) - len(cache.allocator.free_list))
    leaked += int(np.count_nonzero(cache.allocator.refcount))
    return worst, waste, leaked, dict(copy_on_write=cache.copies,
                                      prompt_blocks_shared=sum(shared_prompt_blocks),
                                      prompt_blocks_unshared=4 * sum(shared_prompt_blocks))


def serve(cfg: Config, lengths: np.ndarray, paged: bool):
    """Part (b): serve requests (prompt, output) first come first served; per-step statistics.

    Reservation keeps max_len slots per request from admission to the end. Paging allocates a
    block when the last one is full, and when none is free preempts the latest admitted request
    (its blocks are freed and it is recomputed later).
    """
    bs = cfg.block_size
    total = cfg.kv_capacity_tokens // bs
    free = total
    watermark = max(1, total // 100)  # keep 1% free when admitting, as vLLM does
    waiting = list(range(len(lengths)))[::-1]  # a stack: pop() gives the oldest request
    done = np.zeros(len(lengths), dtype=np.int64)  # tokens the request holds so far
    running: list[int] = []
    held = {}  # request -> blocks it holds
    batch, utilisation, worst_waste, preemptions = [], [], 0, 0
    while waiting or running:
        # Admit: the prompt (or, after preemption, everything so far) must fit, plus the watermark.
        while waiting:
            r = waiting[-1]
            need = math.ceil(cfg.max_len / bs) if not paged else math.ceil(
                (max(done[r], lengths[r, 0]) + 1) / bs)
            if need + (watermark if paged else 0) > free:
                break
            waiting.pop()
            done[r] = max(done[r], lengths[r, 0])  # prefill
            held[r], free = need, free - need
            running.append(r)
        if not running:
            raise RuntimeError("a single request does not fit in the KV memory")
        # Decode one token for every running request.
        for r in list(running):
            if r not in held:
                continue  # preempted earlier in this step
            if paged and held[r] * bs == done[r]:  # every slot is full: one more block
                while free == 0:  # preempt the latest admitted request to make room
                    victim = running.pop()
                    free += held.pop(victim)
                    waiting.append(victim)
                    preemptions += 1
                    if victim == r:
                        break
                if r not in held:
                    continue
                held[r], free = held[r] + 1, free - 1
            done[r] += 1
            if paged:
                worst_waste = max(worst_waste, held[r] * bs - done[r])
        active = [r for r in running if r in held]
        batch.append(len(active))
        utilisation.append(sum(int(done[r]) for r in active) / max(1, (total - free) * bs))
        for r in active:
            if done[r] >= lengths[r].sum():
                running.remove(r)
                free += held.pop(r)
    stats = dict(utilisation=float(np.mean(utilisation)), worst_waste=worst_waste,
                 preemptions=preemptions, clean=free == total and not held)
    return np.array(batch), stats


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    cfg = config
    rng = np.random.default_rng(cfg.seed)
    steps, n_requests = cfg.decode_steps, cfg.requests

    worst, waste_a, leaked, sharing = decode_and_compare(cfg, rng, steps)
    report(0.4)

    lengths = np.stack([rng.integers(cfg.prompt_range[0], cfg.prompt_range[1] + 1, n_requests),
                        rng.integers(cfg.output_range[0], cfg.output_range[1] + 1, n_requests)],
                       axis=1)  # (requests, 2): prompt and output tokens
    lengths[:, 1] = np.minimum(lengths[:, 1], cfg.max_len - lengths[:, 0])
    reserved_batch, reserved = serve(cfg, lengths, paged=False)
    report(0.6)
    paged_batch, paged = serve(cfg, lengths, paged=True)
    report(1.0)
    # Steady state: the steps while requests are still waiting, not the final drain.
    n_reserved = float(np.mean(reserved_batch[: len(reserved_batch) * 3 // 4]))
    n_paged = float(np.mean(paged_batch[: len(paged_batch) * 3 // 4]))
    leaked += int(not reserved["clean"]) + int(not paged["clean"])

    stride = max(1, len(paged_batch) // 60)
    return Result(
        checks=[
            check("max |paged attention - contiguous attention|", worst, "<=", 1e-12),
            check("max waste per sequence (tokens), vs block size",
                  max(waste_a, paged["worst_waste"]), "<",
                  cfg.block_size),
            check("concurrent sequences, paged / max-length reservation", n_paged / n_reserved,
                  ">=", 2.0),
            check("blocks still held after every sequence finished", leaked, "==", 0),
        ],
        metrics={
            "mean_running_sequences_reserved": n_reserved,
            "mean_running_sequences_paged": n_paged,
            "kv_utilisation_reserved": reserved["utilisation"],  # tokens stored / slots set aside
            "kv_utilisation_paged": paged["utilisation"],
            "preemptions_paged": paged["preemptions"],
            "decode_steps_reserved": int(len(reserved_batch)),
            "decode_steps_paged": int(len(paged_batch)),
            "copy_on_write_events": sharing["copy_on_write"],
            "forked_prompt_blocks_stored": sharing["prompt_blocks_shared"],  # 2 prompts x 4 samples
            "forked_prompt_blocks_if_copied": sharing["prompt_blocks_unshared"],
            "requests": n_requests,
        },
        charts=[
            Chart("running sequences per decoding step, paged", "line",
                  x=[float(i) for i in range(0, len(paged_batch), stride)],
                  y=[float(v) for v in paged_batch[::stride]]),
            Chart("share of reserved KV memory holding tokens", "bars",
                  y=[reserved["utilisation"], paged["utilisation"]],
                  labels=["max-length reservation", "paged"]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
