"""The tiny GPT's shipped text and building blocks, beyond what the demo checks itself."""

from pathlib import Path

import numpy as np

from evollm.demos import tiny_gpt as m


def test_the_text_ships_inside_the_package():
    # the wheel packages the evollm folder whole, so a file under it ships with evollm
    path = Path(m.__file__).parent / "data" / m.TEXT
    assert path.is_file() and path.resolve().is_relative_to(Path(m.__file__).parents[1].resolve())
    text = m.load_text()
    assert text == path.read_text(encoding="utf-8")
    assert 5_000 <= len(text.encode("utf-8")) <= 20_000 and text.isascii()
    ids, alphabet = m.encode(text)
    assert "".join(alphabet[i] for i in ids) == text and len(alphabet) < 64


def test_rope_backward_inverts_rope():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5, 8))
    cos, sin = m.rope_tables(5, 8, np.float64)
    assert np.allclose(m.rope_backward(m.rope(x, cos, sin), cos, sin), x, atol=1e-12)


def test_schedule_warms_up_then_decays_to_min_lr():
    c = m.Config(steps=100, warmup=10, lr=1e-2, min_lr=1e-3)
    rates = [m.learning_rate(s, c) for s in range(c.steps)]
    assert np.allclose(rates[:10], np.arange(1, 11) * 1e-3)
    assert abs(rates[10] - c.lr) < 1e-15 and abs(rates[-1] - c.min_lr) < 1e-15
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))


def test_gradient_check_of_a_deeper_model():
    c = m.Config(d_model=16, layers=3, heads=4)
    ids, alphabet = m.encode(m.load_text())
    rng = np.random.default_rng(1)
    p = m.init_params(rng, c, len(alphabet))
    tokens = m.windows(ids[:40], 12)[:3]
    assert m.gradient_check(rng, p, tokens, c) <= 1e-6
