"""The simulator's configuration: judges, generators, world, seed and a loopback address.

Loadable from YAML or JSON so that ``python -m prefjudge.testing.server --config`` can run it in
another process.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prefjudge.errors import ConfigError
from prefjudge.testing.sim import SimGenerator, SimJudge, SimWorld, default_sim_generators, default_sim_jury


def _unique(items: list, what: str) -> list:
    names = [item.name for item in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate {what} name(s): {', '.join(dupes)}")
    return items


class SimServerConfig(BaseModel):
    """Everything a :class:`~prefjudge.testing.server.SimServer` needs; YAML/JSON loadable."""

    model_config = ConfigDict(extra="forbid")
    judges: list[SimJudge] = Field(default_factory=default_sim_jury)
    generators: list[SimGenerator] = Field(default_factory=default_sim_generators)
    world: SimWorld = Field(default_factory=SimWorld)
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)

    @field_validator("judges", "generators")
    @classmethod
    def _names_unique(cls, items: list, info: Any) -> list:
        return _unique(items, info.field_name[:-1])

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        check_loopback(host)
        return host

    @classmethod
    def from_file(cls, path: str | Path) -> SimServerConfig:
        """Load a ``.yaml``/``.yml`` or ``.json`` config file (``{}`` for all defaults); errors name the file."""
        from prefjudge.config_files import load_config

        return load_config(path, cls, "simulator config")

    def save(self, path: str | Path) -> Path:
        """Write the config as JSON (``.json``) or YAML (other suffixes)."""
        path = Path(path)
        data = self.model_dump(mode="json")
        if path.suffix == ".json":
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        else:
            import yaml

            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path


def check_loopback(host: str) -> None:
    """Raise ConfigError unless ``host`` is a loopback address: the simulator never listens elsewhere."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ConfigError(f"the simulator binds loopback addresses only (127.0.0.1, ::1), not {host!r}")
