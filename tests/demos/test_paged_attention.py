"""The block table, allocator and copy-on-write against a contiguous cache."""

import numpy as np
import pytest

from evollm.demos import paged_attention as pa


def filled(cache, seq, n, rng, store):
    for _ in range(n):
        k, v = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
        cache.append(seq, k, v)
        store.setdefault(seq, ([], []))
        store[seq][0].append(k)
        store[seq][1].append(v)


def assert_matches(cache, store, rng, tol=1e-12):
    for seq, (ks, vs) in store.items():
        q = rng.normal(size=(2, 3))
        plain = pa.contiguous_attention(q, np.array(ks), np.array(vs))
        assert np.max(np.abs(pa.paged_attention(q, cache, seq) - plain)) <= tol


def test_interleaved_sequences_read_back_through_their_tables():
    rng = np.random.default_rng(0)
    cache, store = pa.PagedKVCache(32, 4, 2, 3), {}
    for seq in range(3):
        cache.add(seq)
    for _ in range(9):  # interleave so that physical blocks alternate between sequences
        for seq in range(3):
            filled(cache, seq, int(rng.integers(1, 4)), rng, store)
    assert any(b - a != 1 for a, b in zip(cache.tables[0], cache.tables[0][1:]))  # scattered
    assert_matches(cache, store, rng)
    assert all(cache.waste(seq) < 4 for seq in range(3))


def test_fork_shares_blocks_and_copies_on_write():
    rng = np.random.default_rng(1)
    cache, store = pa.PagedKVCache(32, 4, 2, 3), {}
    cache.add(0)
    filled(cache, 0, 10, rng, store)  # 3 blocks, the last half full
    cache.fork(0, 1)
    store[1] = (list(store[0][0]), list(store[0][1]))
    assert cache.tables[1] == cache.tables[0]
    assert list(cache.allocator.refcount[cache.tables[0]]) == [2, 2, 2]
    filled(cache, 1, 1, rng, store)  # writes into the shared last block: copy it first
    assert cache.copies == 1 and cache.tables[1][:2] == cache.tables[0][:2]
    assert cache.tables[1][2] != cache.tables[0][2]
    assert_matches(cache, store, rng)
    for seq in (0, 1):
        cache.free(seq)
    assert len(cache.allocator.free_list) == 32 and not cache.allocator.refcount.any()


class NoCopyOnWrite(pa.PagedKVCache):
    """A broken cache: a forked sequence writes straight into the block it shares."""

    def append(self, seq, k, v):
        table, n = self.tables[seq], self.lengths[seq]
        if n % self.block_size == 0:
            table.append(self.allocator.allocate())
        self.k[table[-1], n % self.block_size], self.v[table[-1], n % self.block_size] = k, v
        self.lengths[seq] = n + 1


def test_without_copy_on_write_the_parent_is_corrupted():
    rng = np.random.default_rng(2)
    cache, store = NoCopyOnWrite(32, 4, 2, 3), {}
    cache.add(0)
    filled(cache, 0, 6, rng, store)
    cache.fork(0, 1)
    store[1] = (list(store[0][0]), list(store[0][1]))
    filled(cache, 1, 1, rng, store)
    filled(cache, 0, 1, rng, store)  # the parent overwrites the child's token
    with pytest.raises(AssertionError):
        assert_matches(cache, store, rng)


def test_allocator_runs_out_and_recovers():
    alloc = pa.BlockAllocator(2)
    a, _ = alloc.allocate(), alloc.allocate()
    with pytest.raises(pa.OutOfBlocks):
        alloc.allocate()
    alloc.release(a)
    assert alloc.allocate() == a


def test_serving_reserved_vs_paged():
    cfg = pa.Config(kv_capacity_tokens=8192, max_len=1024, requests=60)
    rng = np.random.default_rng(3)
    lengths = np.stack([rng.integers(50, 300, 60), rng.integers(50, 300, 60)], axis=1)
    reserved_batch, reserved = pa.serve(cfg, lengths, paged=False)
    paged_batch, paged = pa.serve(cfg, lengths, paged=True)
    assert reserved_batch.max() == 8192 // 1024
    assert paged_batch.max() > 2 * reserved_batch.max()
    assert paged["worst_waste"] < cfg.block_size and paged["clean"] and reserved["clean"]
