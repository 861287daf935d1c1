"""Speculative decoding against plain decoding from the target, and a broken verifier."""

import numpy as np
import pytest

from evollm.demos import speculative_decoding as sd


@pytest.mark.parametrize("gamma", [1, 3, 7])
def test_greedy_speculative_equals_target_greedy(gamma):
    rng = np.random.default_rng(gamma)
    target, draft = sd.context_models(rng, 12, 0.0)
    prompts = rng.integers(0, 12, (8, 2))
    spec, calls, _ = sd.speculative_decode(target, draft, prompts, 100, gamma, rng)
    assert np.array_equal(spec, sd.greedy_decode(target, prompts, 100))
    assert calls < 100  # at least some drafts were accepted


def test_exact_marginals_match_plain_sampling_from_the_target():
    rng = np.random.default_rng(0)
    target, _ = sd.context_models(rng, 8, 1.0)
    n = 200_000
    a, b = np.full(n, 3), np.full(n, 5)
    exact = sd.exact_marginals(target, (3, 5), 4)
    for t in range(4):
        a, b = b, target.sample(a, b, rng)
        assert sd.total_variation(np.bincount(b, minlength=8) / n, exact[t]) < 0.01


def test_tokens_per_call_formula_is_a_geometric_sum():
    for alpha in (0.3, 0.8, 0.95):
        for gamma in (0, 1, 4):
            assert sd.expected_tokens_per_call(alpha, gamma) == pytest.approx(
                sum(alpha**i for i in range(gamma + 1)))


class MisreportingDraft(sd.TableLM):
    """A draft that samples at temperature 1 but tells the verifier its temperature-2 probabilities."""

    def probs(self, prev2, prev1):
        return self.lookup(sd.distribution(self.table, 2.0), prev2, prev1)

    def sample(self, prev2, prev1, rng):
        return sd.sample(self.lookup(self.p, prev2, prev1), rng, self.lookup(self.cdf, prev2, prev1))


def test_output_follows_the_target_and_a_broken_verifier_fails_the_tv_check():
    rng = np.random.default_rng(1)
    p_model, q_model = sd.context_free_pair(rng, 32)
    prompts = np.zeros((20_000, 2), dtype=np.int64)
    good, _, _ = sd.speculative_decode(p_model, q_model, prompts, 10, 4, rng)
    tv = sd.total_variation(np.bincount(good.ravel(), minlength=32) / good.size, p_model.p)
    assert tv <= 0.01
    broken = MisreportingDraft(q_model.table, 1.0)
    bad, _, _ = sd.speculative_decode(p_model, broken, prompts, 10, 4, rng)
    tv_bad = sd.total_variation(np.bincount(bad.ravel(), minlength=32) / bad.size, p_model.p)
    assert tv_bad > 0.01
