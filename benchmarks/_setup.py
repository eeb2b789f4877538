"""Shared set-up for the benchmark scripts: one core, one thread, and a line saying so."""

from __future__ import annotations

import os
import platform

import numba
import numpy as np
import torch
from threadpoolctl import threadpool_limits


def single_core() -> str:
    """Pin this process to one core, one thread everywhere; returns a line naming versions and setup."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    torch.set_num_threads(1)
    threadpool_limits(1)  # BLAS/OpenMP pools (numpy, scipy, scikit-learn): one thread on one core
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"torch {torch.__version__}; pinned to 1 core, 1 thread (torch and BLAS)"
    )
