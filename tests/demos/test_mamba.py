"""The selective scan against its closed form and its matrix view; fixed Delta fails selection."""

import numpy as np

from evollm.demos import mamba


def _inputs(seed=0, T=40, D=3, N=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, D))
    delta = mamba.softplus(rng.normal(size=(T, D)))
    A = -rng.uniform(0.5, 3.0, size=(D, N))
    return x, delta, A, rng.normal(size=(T, N)), rng.normal(size=(T, N)), rng.normal(size=D)


def test_softplus_is_stable_and_exactly_zero_far_left():
    z = np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0])
    out = mamba.softplus(z)
    assert out[0] == 0.0 and out[-1] == 1000.0
    assert np.allclose(out[1:4], np.log1p(np.exp(z[1:4])), rtol=1e-15)


def test_recurrence_equals_closed_form_and_matrix_view():
    x, delta, A, B, C, D = _inputs()
    y, states = mamba.selective_scan(x, delta, A, B, C, D)
    assert np.max(np.abs(states - mamba.closed_form_states(x, delta, A, B))) <= 1e-12
    for channel in range(x.shape[1]):
        M = mamba.mixing_matrix(delta, A, B, C, channel)
        assert np.max(np.abs(M @ x[:, channel] + D[channel] * x[:, channel] - y[:, channel])) <= 1e-12
        assert np.all(np.triu(M, 1) == 0)  # causal


def test_zero_delta_steps_leave_the_state_bit_identical_but_a_fixed_delta_does_not():
    x, delta, A, B, C, D = _inputs(seed=1)
    keep = np.ones(len(x), dtype=bool)
    keep[[3, 10, 11, 25]] = False
    gated = delta.copy()
    gated[~keep] = 0.0
    _, states = mamba.selective_scan(x, gated, A, B, C, D)
    _, states_kept = mamba.selective_scan(x[keep], gated[keep], A, B[keep], C[keep], D)
    assert np.array_equal(states[-1], states_kept[-1])
    fixed = np.full_like(delta, 0.5)
    _, lti = mamba.selective_scan(x, fixed, A, B, C, D)
    _, lti_kept = mamba.selective_scan(x[keep], fixed[keep], A, B[keep], C[keep], D)
    assert np.max(np.abs(lti[-1] - lti_kept[-1])) > 1e-3


def test_quick_run_passes():
    result = mamba.run(mamba.Config(quick=True, seed=3))
    assert result.passed, [(c.name, c.value) for c in result.checks]
