"""``StrictModel``: the pydantic base of every configuration model (curate, training, recipes).

An unknown key is an error (``extra="forbid"``), so a typo in a config file fails loudly with the
path of the bad key instead of being ignored.

>>> from pydantic import ValidationError
>>> class Example(StrictModel):
...     n: int = 1
>>> try:
...     Example.model_validate({"m": 2})
... except ValidationError as e:
...     print(e.errors()[0]["type"], e.errors()[0]["loc"])
extra_forbidden ('m',)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid")
