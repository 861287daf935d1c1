"""What evollm knows from outside itself: arXiv's metadata (`arxiv.py`, the `arxiv` package) and
whether the knowledge base's links still answer (`links.py`, httpx).

Both are imported only by the commands that need them (`add`, `check`), never by the read
commands: the `arxiv`, `requests` and `httpx` imports stay inside these modules' functions.
"""
