"""Knowledge distillation with temperature-scaled soft targets, as DistilBERT trains its student.

Shows the distillation loss of "DistilBERT, a distilled version of BERT: smaller, faster, cheaper
and lighter" (Sanh et al., 2019, arXiv 1910.01108), which takes it from Hinton et al. (2015,
arXiv 1503.02531): the student matches the teacher's softmax at temperature T,
p_i = exp(z_i / T) / sum_j exp(z_j / T) (DistilBERT Sec. 2; Hinton eq. 1), with the loss
T^2 KL(p_teacher || p_student), and the usual cross-entropy on hard labels. DistilBERT weighs the
two 5 : 2 (and adds a cosine loss on hidden states, left out here). Checks: the analytic gradient
T (p_student - p_teacher) of the soft loss matches finite differences; with the T^2 factor the
gradient tends to the logit-matching gradient (z_s - z_t) / K as T grows (Hinton Sec. 2.1), so
its size does not depend on T; and on a small-data task a narrow student learns more from the
teacher's soft targets than from the same examples' hard labels.

But: a wide MLP teacher and a narrow MLP student on synthetic 10-class Gaussian clusters, not
BERT on text; no masked-language-model loss, no hidden-state cosine loss, no initialisation of
the student from the teacher's layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Training a small student on a teacher's temperature-softened outputs beats "
    "training it on hard labels, and the T^2 factor keeps the gradient's scale."
)
EQUATIONS = (
    "p_i = exp(z_i / T) / sum_j exp(z_j / T)",
    "L_soft = T^2 KL(p_teacher^T || p_student^T);  dL/dz_s = T (p_s^T - p_t^T)  (Hinton Sec. 2)",
    "T -> infinity: T (p_s - p_t) -> (z_s - z_t) / K  (logit matching)",
)


@dataclass
class Config:
    """Sizes of the task and networks, and the distillation hyper-parameters."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    n_classes: int = setting(10, "K", low=2)
    n_features: int = setting(20, "input dimension", low=1)
    clusters_per_class: int = setting(
        3, "each class is a mixture, so its boundary is not linear", low=1)
    cluster_spread: float = setting(
        1.0, "std of each cluster; sets how hard the task is", above=0.0)
    n_teacher_data: int = setting(10_000, "labelled examples the teacher trains on", low=1)
    n_student_data: int = setting(500, "the small data set of each student", low=2)
    n_test: int = setting(5000, "n test", low=1)
    teacher_hidden: int = setting(256, "teacher hidden", low=1)
    student_hidden: int = setting(32, "student hidden", low=1)
    teacher_steps: int = setting(1500, "Adam steps, minibatches of 256", low=1)
    student_steps: int = setting(500, "Adam steps, full batch", low=1)
    temperature: float = setting(
        2.0, "T of the soft targets (DistilBERT's script default)", low=0.1, high=1000.0)
    soft_weight: float = setting(5.0, "weight of T^2 KL (DistilBERT's alpha_ce)", low=0.0)
    hard_weight: float = setting(
        2.0, "weight of the hard-label cross-entropy (DistilBERT's alpha_mlm)", low=0.0)
    repeats: int = setting(
        3, "student pairs (hard labels vs soft targets), each on a fresh small data set", low=1)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return ([f"n_student_data: {self.n_student_data} exceeds n_teacher_data = {self.n_teacher_data}"]
                if self.n_student_data > self.n_teacher_data else [])

# --quick: fewer training steps. Applied before --set, so --set wins.
QUICK = {"teacher_steps": 600, "student_steps": 300, "n_test": 2000}


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def soft_target_loss(student_logits, teacher_logits, T):
    """T^2 KL(softmax(z_t / T) || softmax(z_s / T)), averaged over rows, and its gradient in z_s.

    The gradient of one row is T (p_s - p_t) (Hinton eq. 2 times T^2), averaged over the n rows."""
    log_ps, log_pt = log_softmax(student_logits / T), log_softmax(teacher_logits / T)
    pt = np.exp(log_pt)
    n = len(student_logits)
    loss = T**2 * float(np.sum(pt * (log_pt - log_ps))) / n
    return loss, T * (np.exp(log_ps) - pt) / n


def hard_label_loss(logits, labels):
    """Mean cross-entropy on the labels, and its gradient (p - onehot) / n."""
    log_p = log_softmax(logits)
    rows = np.arange(len(labels))
    grad = np.exp(log_p)
    grad[rows, labels] -= 1
    return float(-np.mean(log_p[rows, labels])), grad / len(labels)


def make_clusters(rng, config: Config):
    """Cluster centres; class c owns clusters c, c + K, c + 2K, ..."""
    return rng.normal(size=(config.n_classes * config.clusters_per_class, config.n_features))


def sample(rng, centres, n, config: Config):
    cluster = rng.integers(len(centres), size=n)
    X = centres[cluster] + config.cluster_spread * rng.normal(size=(n, centres.shape[1]))
    return X, cluster % config.n_classes


def init_mlp(rng, n_in, n_hidden, n_out):
    """A one-hidden-layer ReLU network, He-initialised: [(W1, b1), (W2, b2)]."""
    return [(rng.normal(size=(n_in, n_hidden)) * math.sqrt(2 / n_in), np.zeros(n_hidden)),
            (rng.normal(size=(n_hidden, n_out)) * math.sqrt(2 / n_hidden), np.zeros(n_out))]


def forward(params, X):
    """(logits (n, K), hidden activations (n, H))."""
    (W1, b1), (W2, b2) = params
    hidden = np.maximum(X @ W1 + b1, 0.0)
    return hidden @ W2 + b2, hidden


def backward(params, X, hidden, grad_logits):
    """Gradients [(dW1, db1), (dW2, db2)] of a loss whose gradient in the logits is grad_logits."""
    _, (W2, _) = params
    d_hidden = (grad_logits @ W2.T) * (hidden > 0)  # (n, H): ReLU passes where it was active
    return [(X.T @ d_hidden, d_hidden.sum(axis=0)), (hidden.T @ grad_logits, grad_logits.sum(axis=0))]


def train(rng, params, X, y, config: Config, steps, batch=None, teacher_logits=None):
    """Adam on hard-label cross-entropy, or on soft_weight * soft loss + hard_weight * CE when
    teacher logits are given. Returns the trained parameters (updated in place)."""
    moments = [[np.zeros_like(p) for p in layer] for layer in params]
    second = [[np.zeros_like(p) for p in layer] for layer in params]
    lr = 3e-3 if batch is None else 2e-3
    for t in range(1, steps + 1):
        rows = rng.choice(len(X), size=batch, replace=False) if batch else slice(None)
        logits, hidden = forward(params, X[rows])
        _, grad = hard_label_loss(logits, y[rows])
        if teacher_logits is not None:
            _, soft_grad = soft_target_loss(logits, teacher_logits[rows], config.temperature)
            grad = config.hard_weight * grad + config.soft_weight * soft_grad
        grads = backward(params, X[rows], hidden, grad)
        for layer, layer_grads, m_layer, v_layer in zip(params, grads, moments, second):
            for p, g, m, v in zip(layer, layer_grads, m_layer, v_layer):
                m[...] = 0.9 * m + 0.1 * g
                v[...] = 0.999 * v + 0.001 * g * g
                p -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return params


def accuracy(params, X, y) -> float:
    return float(np.mean(forward(params, X)[0].argmax(axis=1) == y))


def copy_params(params):
    return [tuple(p.copy() for p in layer) for layer in params]


def gradient_checks(rng, config: Config):
    """(max relative error of the analytic soft-loss gradient vs central differences,
    relative distance of that gradient at T = 1000 from the logit-matching limit (z_s - z_t) / K,
    gradient norms at T = 1, 4, 16, 64 with the T^2 factor)."""
    K = config.n_classes
    z_s, z_t = rng.normal(size=(4, K)) * 3, rng.normal(size=(4, K)) * 3
    T = config.temperature
    _, analytic = soft_target_loss(z_s, z_t, T)
    numeric = np.zeros_like(z_s)
    eps = 1e-5
    for index in np.ndindex(*z_s.shape):
        step = np.zeros_like(z_s)
        step[index] = eps
        numeric[index] = (soft_target_loss(z_s + step, z_t, T)[0] - soft_target_loss(z_s - step, z_t, T)[0]) / (2 * eps)
    fd_error = float(np.max(np.abs(numeric - analytic)) / np.max(np.abs(analytic)))
    # Hinton Sec. 2.1: with zero-mean logits, T (p_s - p_t) -> (z_s - z_t) / K as T grows.
    z_s0, z_t0 = z_s - z_s.mean(axis=1, keepdims=True), z_t - z_t.mean(axis=1, keepdims=True)
    _, hot = soft_target_loss(z_s0, z_t0, 1000.0)
    limit = (z_s0 - z_t0) / K / len(z_s0)
    norms = [float(np.linalg.norm(soft_target_loss(z_s0, z_t0, t)[1])) for t in (1.0, 4.0, 16.0, 64.0)]
    return fd_error, float(np.linalg.norm(hot - limit) / np.linalg.norm(limit)), norms


def backprop_check(rng, config: Config, h: float = 1e-6) -> float:
    """Relative error of the student MLP's hand-written backprop (through the soft-target loss)
    against central differences, on random entries of every weight and bias."""
    X = rng.normal(size=(16, config.n_features))
    params = init_mlp(rng, config.n_features, 12, config.n_classes)
    teacher = rng.normal(size=(16, config.n_classes)) * 3

    def loss_of():
        return soft_target_loss(forward(params, X)[0], teacher, config.temperature)[0]

    logits, hidden = forward(params, X)
    grads = backward(params, X, hidden, soft_target_loss(logits, teacher, config.temperature)[1])
    numeric, analytic = [], []
    for (w, b), (gw, gb) in zip(params, grads):
        for array, grad in ((w, gw), (b, gb)):
            for flat in rng.choice(array.size, min(12, array.size), replace=False):
                idx = np.unravel_index(flat, array.shape)
                saved = array[idx]
                array[idx] = saved + h
                up = loss_of()
                array[idx] = saved - h
                down = loss_of()
                array[idx] = saved
                numeric.append((up - down) / (2 * h))
                analytic.append(grad[idx])
    numeric, analytic = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric - analytic)
                 / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


def run(config: Config, progress: Progress | None = None) -> Result:
    progress = progress or no_progress
    rng = np.random.default_rng(config.seed)
    fd_error, limit_error, norms = gradient_checks(rng, config)

    centres = make_clusters(rng, config)
    X_teacher, y_teacher = sample(rng, centres, config.n_teacher_data, config)
    X_test, y_test = sample(rng, centres, config.n_test, config)
    teacher = train(rng, init_mlp(rng, config.n_features, config.teacher_hidden, config.n_classes),
                    X_teacher, y_teacher, config, config.teacher_steps, batch=256)
    teacher_accuracy = accuracy(teacher, X_test, y_test)
    progress(0.5)

    hard, soft = [], []
    for i in range(config.repeats):
        # Each student pair sees the same small data set and starts from the same weights.
        rows = rng.choice(config.n_teacher_data, size=config.n_student_data, replace=False)
        X_small, y_small = X_teacher[rows], y_teacher[rows]
        start = init_mlp(rng, config.n_features, config.student_hidden, config.n_classes)
        teacher_logits, _ = forward(teacher, X_small)
        hard_student = train(rng, copy_params(start), X_small, y_small, config, config.student_steps)
        soft_student = train(rng, copy_params(start), X_small, y_small, config, config.student_steps,
                             teacher_logits=teacher_logits)
        hard.append(accuracy(hard_student, X_test, y_test))
        soft.append(accuracy(soft_student, X_test, y_test))
        progress(0.5 + 0.5 * (i + 1) / config.repeats)
    gain = float(np.mean(soft) - np.mean(hard))
    backprop_error = backprop_check(rng, config)  # last, so it leaves the runs above as they were

    return Result(
        checks=[
            check("student MLP backprop through the soft loss vs finite differences (rel. error)",
                  backprop_error, "<=", 1e-6),
            check(f"soft-loss gradient vs finite differences (rel. error, T = {config.temperature:g})",
                  fd_error, "<=", 1e-7),
            check("T = 1000 gradient vs logit matching (z_s - z_t) / K (rel.)", limit_error, "<=", 1e-2),
            check(f"soft-target minus hard-label student accuracy (mean of {config.repeats})", gain, ">=", 0.02),
        ],
        metrics={
            "teacher accuracy (trained on all labels)": teacher_accuracy,
            "student data set": f"{config.n_student_data} of {config.n_teacher_data} examples",
            "hard-label student accuracy, per repeat": hard,
            "soft-target student accuracy, per repeat": soft,
            "teacher / student parameters": [sum(p.size for layer in net for p in layer) for net in (teacher, start)],
            "soft-loss gradient norm at T = 1, 4, 16, 64 (with T^2)": norms,
            "the same without T^2 (shrinks as 1/T^2)": [n / t**2 for n, t in zip(norms, (1, 4, 16, 64))],
            "temperature; soft : hard weights":
                f"T = {config.temperature:g}; {config.soft_weight:g} : {config.hard_weight:g}",
        },
        charts=[
            Chart("test accuracy: teacher, hard-label student, soft-target student", "bars",
                  labels=["teacher", "student, hard labels", "student, soft targets"],
                  y=[teacher_accuracy, float(np.mean(hard)), float(np.mean(soft))]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
