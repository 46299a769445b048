"""Reading the quickstart's printed output (shared by the pipeline-recipe and README tests)."""

from __future__ import annotations

import re
from pathlib import Path


def artefact_paths(stdout: str) -> dict[str, list[Path]]:
    """The "Artefacts" section of the quickstart's output: label -> the paths printed for it."""
    section = stdout.split("\nArtefacts\n", 1)[1].split("\n\n", 1)[0]
    found = {}
    for line in section.splitlines():
        label, paths = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        found[label] = [Path(p) for p in paths.split(", ")]
    return found
