"""Distillation losses and backprop against finite differences; a useless teacher fails the check."""

import numpy as np

from evollm.demos import distillation as kd


def _numeric(f, z, eps=1e-6):
    out = np.zeros_like(z)
    for index in np.ndindex(*z.shape):
        step = np.zeros_like(z)
        step[index] = eps
        out[index] = (f(z + step) - f(z - step)) / (2 * eps)
    return out


def test_soft_and_hard_losses_have_the_stated_gradients():
    rng = np.random.default_rng(0)
    z_s, z_t = rng.normal(size=(2, 5, 7)) * 2
    labels = rng.integers(7, size=5)
    for T in (1.0, 2.0, 8.0):
        _, grad = kd.soft_target_loss(z_s, z_t, T)
        numeric = _numeric(lambda z: kd.soft_target_loss(z, z_t, T)[0], z_s)
        assert np.max(np.abs(numeric - grad)) <= 1e-8
    _, grad = kd.hard_label_loss(z_s, labels)
    assert np.max(np.abs(_numeric(lambda z: kd.hard_label_loss(z, labels)[0], z_s) - grad)) <= 1e-8


def test_soft_loss_at_T1_is_the_kl_divergence_and_zero_for_equal_logits():
    rng = np.random.default_rng(1)
    z_s, z_t = rng.normal(size=(2, 4, 6))
    p_s = np.exp(kd.log_softmax(z_s))
    p_t = np.exp(kd.log_softmax(z_t))
    kl = np.mean(np.sum(p_t * np.log(p_t / p_s), axis=1))
    assert abs(kd.soft_target_loss(z_s, z_t, 1.0)[0] - kl) <= 1e-14
    loss, grad = kd.soft_target_loss(z_t, z_t, 3.0)
    assert abs(loss) <= 1e-14 and np.max(np.abs(grad)) <= 1e-16


def test_mlp_backward_matches_finite_differences():
    rng = np.random.default_rng(2)
    params = kd.init_mlp(rng, 4, 6, 3)
    X, labels = rng.normal(size=(8, 4)), rng.integers(3, size=8)

    def loss_of(W1):
        return kd.hard_label_loss(kd.forward([(W1, params[0][1]), params[1]], X)[0], labels)[0]

    logits, hidden = kd.forward(params, X)
    grads = kd.backward(params, X, hidden, kd.hard_label_loss(logits, labels)[1])
    assert np.max(np.abs(_numeric(loss_of, params[0][0]) - grads[0][0])) <= 1e-7


def test_an_untrained_teacher_fails_the_soft_target_check():
    config = kd.Config(student_steps=300, n_test=2000)
    rng = np.random.default_rng(3)
    centres = kd.make_clusters(rng, config)
    X, y = kd.sample(rng, centres, config.n_student_data, config)
    X_test, y_test = kd.sample(rng, centres, config.n_test, config)
    useless = kd.init_mlp(rng, config.n_features, config.teacher_hidden, config.n_classes)
    start = kd.init_mlp(rng, config.n_features, config.student_hidden, config.n_classes)
    hard = kd.accuracy(kd.train(rng, kd.copy_params(start), X, y, config, config.student_steps), X_test, y_test)
    soft = kd.accuracy(kd.train(rng, kd.copy_params(start), X, y, config, config.student_steps,
                                teacher_logits=kd.forward(useless, X)[0]), X_test, y_test)
    assert soft - hard < 0.02, (soft, hard)


def test_quick_run_passes():
    result = kd.run(kd.Config(quick=True, seed=6))
    assert result.passed, [(c.name, c.value) for c in result.checks]
