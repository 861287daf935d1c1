"""evollm: a command-line explorer of how large language models evolved."""

__version__ = "0.1.0"
