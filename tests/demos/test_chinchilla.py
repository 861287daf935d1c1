"""The Chinchilla demo's closed form and refit against first principles."""

import math

import numpy as np
import pytest

from evollm.demos import chinchilla as ch


@pytest.mark.parametrize("consts", [ch.PAPER, ch.PAPER_TEX, ch.REFIT])
@pytest.mark.parametrize("flops", [1e20, ch.GOPHER_FLOPS, 1e26])
def test_closed_form_spends_the_budget_and_is_a_minimum(consts, flops):
    n, d = ch.compute_optimal(flops, **consts)
    assert 6 * n * d == pytest.approx(flops, rel=1e-12)
    along = [ch.loss(n * f, flops / (6 * n * f), **consts) for f in (0.99, 1.0, 1.01)]
    assert along[1] < along[0] and along[1] < along[2]
    assert ch.isoflop_search(flops, consts) == pytest.approx(n, rel=1e-6)


def test_swapped_exponents_fail_the_isoflop_check():
    """A classic slip, N_opt ~ C^b instead of C^a, is caught by the numeric search."""
    k = ch.REFIT
    g = (k["alpha"] * k["A"] / (k["beta"] * k["B"])) ** (1 / (k["alpha"] + k["beta"]))
    wrong = g * (ch.GOPHER_FLOPS / 6) ** (k["alpha"] / (k["alpha"] + k["beta"]))
    assert abs(ch.isoflop_search(ch.GOPHER_FLOPS, k) / wrong - 1) > 1e-3


def test_noise_free_refit_recovers_every_constant():
    rng = np.random.default_rng(0)
    n, d, _, observed = ch.synthetic_isoflops(rng, ch.PAPER, 9, 0.0, 1.0)
    fit = ch.refit(n, d, observed, 0.01)
    assert fit["alpha"] == pytest.approx(ch.PAPER["alpha"], abs=1e-3)
    assert fit["beta"] == pytest.approx(ch.PAPER["beta"], abs=1e-3)
    assert fit["E"] == pytest.approx(ch.PAPER["E"], rel=1e-2)


def test_gopher_budget_matches_the_published_allocations():
    n_tex, _ = ch.compute_optimal(ch.GOPHER_FLOPS, **ch.PAPER_TEX)
    n_refit, d_refit = ch.compute_optimal(ch.GOPHER_FLOPS, **ch.REFIT)
    assert 38e9 < n_tex < 43e9  # the paper's approach-3 estimate, about 40B
    assert 15 < d_refit / n_refit < 25  # Chinchilla's about 20 tokens per parameter
    assert math.isclose(ch.run(ch.Config(flops=1e24, quick=True)).metrics["optimal_params"],
                        ch.compute_optimal(1e24, **ch.REFIT)[0])
