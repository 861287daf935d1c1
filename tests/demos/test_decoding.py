"""Decoding rules against hand-worked cases."""

import numpy as np
import pytest

from evollm.demos import decoding as d


def test_top_p_keeps_the_smallest_set_reaching_p():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    assert np.allclose(d.top_p_filter(p, 0.8), [0.5 / 0.8, 0.3 / 0.8, 0, 0])
    assert np.allclose(d.top_p_filter(p, 0.81), np.array([0.5, 0.3, 0.15, 0]) / 0.95)
    assert np.allclose(d.top_p_filter(p, 0.4), [1, 0, 0, 0])


def test_top_k_and_penalty_by_hand():
    p = np.array([0.1, 0.4, 0.2, 0.3])
    assert np.allclose(d.top_k_filter(p, 2), [0, 4 / 7, 0, 3 / 7])
    z = np.array([2.0, -1.0, 0.5])
    assert np.allclose(d.repetition_penalty(z, [0, 1], 2.0), [1.0, -2.0, 0.5])


def test_gnmt_length_penalty():
    assert d.length_penalty(1, 1.0) == pytest.approx(1.0)
    assert d.length_penalty(7, 0.5) == pytest.approx(np.sqrt(2.0))


def test_beam_of_width_one_is_greedy_and_exhaustive_beam_is_optimal():
    rng = np.random.default_rng(3)
    logp = np.log(d.softmax(rng.normal(size=(5, 5))))
    for start in range(5):
        assert d.beam_search(logp, start, 1, 3, 0.0)[0] == d.greedy(logp, start, 3)
        seq, score = d.beam_search(logp, start, 5**3, 3, 0.6)
        best, best_score = d.exhaustive_best(logp, start, 3, 0.6)
        assert seq == best and score == pytest.approx(best_score)
