"""Sweeps over seeds, architectures and recipes on Ray Tune: each trial an ordinary gridlab run.

>>> import gridlab
>>> result = gridlab.sweep(gridlab.TrainConfig(milestone="v1", total_timesteps=4000),
...                        grid={"seed": [0, 1], "learning_rate": [3e-4, 1e-3]})
>>> result.table        # one row per trial; result.plot() draws learning curves by condition

Names load on first use: ``import gridlab`` does not import Ray.
"""

from typing import TYPE_CHECKING

from gridlab._lazy import lazy_exports

if TYPE_CHECKING:
    from gridlab.sweeps.report import Sweep, read_sweep
    from gridlab.sweeps.runner import resume_sweep, sweep

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
