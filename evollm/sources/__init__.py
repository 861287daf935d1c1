"""What evollm knows from outside itself: arXiv's metadata and whether the knowledge base's links
still answer.

- `arxiv.py`: talking to arXiv (ids, the `arxiv` package, strict reading of its answers, pacing,
  the on-disk cache of answers);
- `drafts.py`: drafting a new entry from an arXiv paper (`evollm add --arxiv`);
- `compare.py`: comparing entries with arXiv, and fixing what differs (`evollm check arxiv [--fix]`);
- `links.py`: checking that the knowledge base's URLs still answer (`evollm check links`, httpx).

They are imported only by the commands that need them (`add`, `check`), never by the read
commands: the `arxiv`, `requests`, `lxml` and `httpx` imports stay inside these modules' functions.
"""
