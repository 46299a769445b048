"""Small numeric helpers shared across prefjudge: the logistic function.

>>> sigmoid(0.0), sigmoid(-1000.0), sigmoid(1000.0)
(0.5, 0.0, 1.0)
>>> [round(float(p), 4) for p in sigmoid([-2.0, 2.0])]
[0.1192, 0.8808]
"""

from __future__ import annotations

import math
from typing import Any


def sigmoid(x: Any) -> Any:
    """The logistic function 1 / (1 + e^-x), never overflowing: a float for a Python (or numpy
    float64) number, an elementwise numpy array for anything else (numpy is imported only then).

    >>> sigmoid(2.0) == 1 / (1 + math.exp(-2.0))
    True
    """
    if isinstance(x, (int, float)):
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        z = math.exp(x)
        return z / (1.0 + z)
    import numpy as np

    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))
