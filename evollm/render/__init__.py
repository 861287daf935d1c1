"""Pure renderers: data in, rich renderables out. Nothing here prints.

Text from the data goes into tables as `literal(...)`, never as a string: rich would read a
string as markup (a name "Model [beta]" would lose its bracket, "[/]" would crash the command).
"""


def literal(value, style: str | None = None):
    """A rich Text showing `value` as it is: never read as markup, control characters escaped."""
    from rich.text import Text

    from evollm.text import visible

    return Text(visible(str(value), keep_newlines=True), style=style or "")


def human_count(n: int) -> str:
    """340000000 -> '340M', 1500000000 -> '1.5B', 1.6e12 -> '1.6T'."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            value = n / size
            text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 100 else f"{value:.0f}"
            return text + unit
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def human_amount(value: float, unit: str) -> str:
    """A context, token count or FLOP in human units: '128K tokens', '14.8T tokens', '3.8e24 FLOP'."""
    if unit == "FLOP":
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)} FLOP"
    return f"{human_count(value)} {unit}"


def measure_text(items, unit: str) -> str:
    """'128K tokens' or 'Scout: 10M tokens, Maverick: 1M tokens'; 'est.' marks a derived number."""
    parts = []
    for m in items:
        text = human_amount(m.value, unit) + (" (est.)" if m.estimated else "")
        parts.append(f"{m.label}: {text}" if m.label else text)
    return ", ".join(parts)


def params_text(params) -> str:
    """'117M, 345M' or '46.7B (12.9B active)' for a list of ParamCount."""
    parts = []
    for p in params:
        text = human_count(p.total)
        if p.active is not None:
            text += f" ({human_count(p.active)} active)"
        if p.label and p.label.lower() not in (human_count(p.total).lower(), text.lower()):
            text = f"{p.label}: {text}"
        parts.append(text)
    return ", ".join(parts)
