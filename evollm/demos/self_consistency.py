"""Self-consistency: sample several reasoning paths and answer with the most common final answer.

Chain-of-thought prompting with greedy decoding follows one reasoning path; self-consistency
samples m paths at a temperature and takes a majority vote over their final answers (Sec. 2 of
the paper), which marginalises out the reasoning. The vote helps exactly when the right answer is
the single most likely final answer, and then accuracy climbs towards 1 as m grows (a Condorcet
jury argument); when a wrong answer is the most likely, voting locks it in. This demo models each
question by the distribution of final answers its sampled paths reach, runs the vote by Monte
Carlo, and checks it against the exact probability summed over every vote count (multinomial).

Paper: Wang, Wei, Schuurmans, Le, Chi, Narang, Chowdhery and Zhou, "Self-Consistency Improves
Chain of Thought Reasoning in Language Models", arXiv 2203.11171.

But: no language model and no reasoning text: each question is its answer distribution, drawn
at random, so the gains are those of voting itself, not the paper's benchmark numbers; paths are
independent (a real model's samples are not), and the weighted votes of its Table 1 are left out.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "A majority vote over m sampled answers is right with the probability the multinomial gives; "
    "it rises towards 1 with m when the right answer is the most likely one, and falls when a "
    "wrong answer is."
)
EQUATIONS = (
    "a_hat = argmax_a sum_(i=1..m) 1(a_i = a),  a_i ~ p(a | question)  (Sec. 2, majority vote)",
    "P(right) = sum over counts (n_1..n_K) with sum n = m of Multinomial(n; m, p) x "
    "1(n_right is the largest) / (number of answers tied for largest)",
)


@dataclass
class Config:
    """Settings of the self-consistency demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    questions: int = setting(300, "questions, each with its own answer distribution", low=1)
    answers: int = setting(4, "distinct final answers a path can reach (answer 0 is right)",
                           low=2, high=5)
    votes: tuple[int, ...] = setting((1, 3, 5, 9, 17, 33), "sampled paths m compared", low=1,
                                     high=60)
    trials: int = setting(400, "Monte Carlo votes per question and m", low=10)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return ([] if len(set(self.votes)) >= 2 and 1 in self.votes
                else ["votes: include 1 (a single sample) and at least one larger m"])


# --quick: fewer questions and trials. Applied before --set, so --set wins.
QUICK = {"questions": 120, "trials": 200}


def majority_vote(rng: np.random.Generator, samples: np.ndarray, n_answers: int) -> np.ndarray:
    """The most common answer of each row of `samples` (trials, m); ties broken uniformly."""
    counts = np.stack([(samples == a).sum(axis=1) for a in range(n_answers)], axis=1)  # (n, K)
    top = counts == counts.max(axis=1, keepdims=True)
    noise = rng.random(top.shape)  # a uniform random pick among the tied answers
    return np.argmax(np.where(top, noise, -1.0), axis=1)


def vote_counts(m: int, k: int) -> np.ndarray:
    """Every way m votes can fall on k answers: the count vectors (N, k) with sum m."""
    rows = [(m - sum(c), *c) for c in itertools.product(range(m + 1), repeat=k - 1) if sum(c) <= m]
    return np.array(rows)


def exact_accuracy(dists: np.ndarray, m: int) -> np.ndarray:
    """P(the vote of m independent draws picks answer 0), for each row of dists (Q, K): the
    multinomial probability of every count vector where answer 0 has the most votes, divided by
    the number of answers tied with it."""
    n = vote_counts(m, dists.shape[1])  # (N, K)
    largest = n.max(axis=1)
    wins = (n[:, 0] == largest) / (n == largest[:, None]).sum(axis=1)  # (N,)
    log_coef = math.lgamma(m + 1) - np.sum([[math.lgamma(c + 1) for c in row] for row in n], axis=1)
    with np.errstate(divide="ignore"):
        log_p = np.log(dists)  # (Q, K)
    log_terms = np.where(n[:, None, :] > 0, n[:, None, :] * log_p[None], 0.0).sum(axis=2)  # (N, Q)
    return (wins[:, None] * np.exp(log_coef[:, None] + log_terms)).sum(axis=0)  # (Q,)


def answer_distributions(rng: np.random.Generator, questions: int, k: int) -> np.ndarray:
    """One answer distribution per question, (Q, K): random, with the right answer (0) somewhat
    favoured, as for a model that reasons right more often than any one wrong way; some
    questions still have a wrong answer as the most likely."""
    concentration = np.full(k, 0.7)
    concentration[0] = 1.6
    return rng.dirichlet(concentration, size=questions)


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    k, votes = config.answers, sorted(set(config.votes))
    dists = answer_distributions(rng, config.questions, k)  # (Q, K)
    right_is_mode = dists[:, 0] > np.delete(dists, 0, axis=1).max(axis=1)

    # Monte Carlo votes against the exact multinomial probability, question by question.
    simulated = np.zeros((len(votes), config.questions))
    exact = np.zeros_like(simulated)
    for qi, p in enumerate(dists):
        cdf = np.cumsum(p)
        for vi, m in enumerate(votes):
            draws = np.minimum(np.searchsorted(cdf, rng.random((config.trials, m)) * cdf[-1],
                                               side="right"), k - 1)
            simulated[vi, qi] = np.mean(majority_vote(rng, draws, k) == 0)
        if qi % 20 == 0:
            report(0.9 * qi / config.questions)
    for vi, m in enumerate(votes):
        exact[vi] = exact_accuracy(dists, m)
    report(1.0)

    # The Monte Carlo mean over all questions is within a few standard errors of the exact one.
    gap = np.abs(simulated.mean(axis=1) - exact.mean(axis=1))  # (V,)
    se = np.sqrt((exact * (1 - exact)).sum(axis=1) / config.trials) / config.questions
    z = float(np.max(gap / np.maximum(se, 1e-12)))
    easy, hard = exact[:, right_is_mode].mean(axis=1), exact[:, ~right_is_mode].mean(axis=1)
    overall = exact.mean(axis=1)
    steps_easy = np.diff(easy)
    checks = [
        check("Monte Carlo vote vs exact multinomial accuracy, worst over m (standard errors)",
              z, "<=", 4.0),
        check(f"self-consistency gain: exact accuracy at m = {votes[-1]} minus one sample",
              float(overall[-1] - overall[0]), ">", 0.0),
        check("right answer most likely: accuracy falls from one m to the next (count)",
              int(np.sum(steps_easy < 0)), "==", 0),
        check(f"right answer most likely: exact accuracy at m = {votes[-1]} minus one sample",
              float(easy[-1] - easy[0]), ">", 0.0),
        check(f"a wrong answer most likely: accuracy at m = {votes[-1]} minus one sample",
              float(hard[-1] - hard[0]), "<", 0.0),
    ]
    return Result(
        checks=checks,
        metrics={
            "questions": config.questions,
            "right_answer_is_most_likely": int(right_is_mode.sum()),
            "votes_m": votes,
            "exact_accuracy_all": [round(float(a), 4) for a in overall],
            "simulated_accuracy_all": [round(float(a), 4) for a in simulated.mean(axis=1)],
            "exact_accuracy_right_most_likely": [round(float(a), 4) for a in easy],
            "exact_accuracy_wrong_most_likely": [round(float(a), 4) for a in hard],
        },
        charts=[
            Chart("exact accuracy vs m, all questions", "line", x=[float(m) for m in votes],
                  y=[float(a) for a in overall]),
            Chart("exact accuracy vs m, right answer most likely", "line",
                  x=[float(m) for m in votes], y=[float(a) for a in easy]),
            Chart("exact accuracy vs m, a wrong answer most likely", "line",
                  x=[float(m) for m in votes], y=[float(a) for a in hard]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
