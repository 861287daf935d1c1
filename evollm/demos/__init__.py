"""Reference implementations: the registry lives in `registry.py` (no numpy import there).

Importing this package pins BLAS to one thread (unless the environment already says otherwise),
so that `python -m evollm.demos.NAME`, whose module imports numpy before the shared runner can
pin it, runs as `evollm demo NAME` does: the demos' matrices are small, and BLAS threads only
oversubscribe the cores.
"""

import os as _os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_name, "1")
