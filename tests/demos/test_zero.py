"""ZeRO's simulated ranks against plain data parallelism, the paper's formulas, a broken collective."""

import numpy as np
import pytest

from evollm.demos import zero


def tiny() -> zero.Config:
    return zero.Config(d_in=8, hidden=16, d_out=4, steps=5, global_batch=16)  # Psi = 504


def setup(cfg, seed=0):
    rng = np.random.default_rng(seed)
    shapes = zero.layer_shapes(cfg)
    init = np.concatenate([rng.normal(0, 0.5, s).ravel() for s in shapes]).astype(np.float32)
    x = rng.normal(size=(cfg.global_batch, cfg.d_in)).astype(np.float32)
    y = rng.normal(size=(cfg.global_batch, cfg.d_out)).astype(np.float32)
    return shapes, init, (x, y)


def test_paper_example_7_5b_on_64_gpus():
    gb = [zero.memory_formula(s, 7.5e9, 64) / 1e9 for s in zero.STAGES]
    assert [round(v, 1) for v in gb] == [120.0, 31.4, 16.6, 1.9]


@pytest.mark.parametrize("n_d", [2, 4])
def test_every_stage_matches_plain_dp_and_the_memory_formula(n_d):
    cfg = tiny()
    shapes, init, data = setup(cfg)
    reference, _, _ = zero.train("dp", n_d, init, shapes, data, cfg)
    for stage in zero.STAGES:
        weights, per_rank, _ = zero.train(stage, n_d, init, shapes, data, cfg)
        assert np.array_equal(weights, reference)
        assert per_rank == [zero.memory_formula(stage, init.size, n_d)] * n_d


def test_collectives_equal_a_plain_sum():
    rng = np.random.default_rng(1)
    parts = [rng.normal(size=12).astype(np.float16) for _ in range(4)]
    net = zero.Network(4)
    total = sum(p.astype(np.float32) for p in parts)
    assert np.array_equal(net.all_reduce(parts), total)
    assert net.sent == 2 * 12 * 3 / 4


def test_gradient_matches_a_directional_finite_difference():
    cfg = tiny()
    shapes, init, (x, y) = setup(cfg, 2)
    direction = np.random.default_rng(3).normal(size=init.size).astype(np.float32)
    _, grad = zero.loss_and_grad(init, shapes, x, y)
    eps = 1e-2
    up = zero.loss_and_grad((init + eps * direction).astype(np.float32), shapes, x, y)[0]
    down = zero.loss_and_grad((init - eps * direction).astype(np.float32), shapes, x, y)[0]
    assert (up - down) / (2 * eps) == pytest.approx(float(grad @ direction), rel=2e-2)


def test_misrouted_shards_break_the_trajectory(monkeypatch):
    """If reduce-scatter hands rank r the shard of rank r+1, the check must fail."""
    cfg = tiny()
    shapes, init, data = setup(cfg)
    reference, _, _ = zero.train("dp", 4, init, shapes, data, cfg)
    honest = zero.Network.reduce_scatter

    def misrouted(self, full):
        shards = honest(self, full)
        return shards[1:] + shards[:1]

    monkeypatch.setattr(zero.Network, "reduce_scatter", misrouted)
    weights, _, _ = zero.train("os+g", 4, init, shapes, data, cfg)
    assert np.max(np.abs(weights.astype(np.float64) - reference)) > 1e-12
