"""``prefjudge serve-sim``: run the simulated judge server (for tests and demos)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from prefjudge.cli import app


@app.command("serve-sim")
def serve_sim_command(
    config: Optional[Path] = typer.Option(None, help="SimServerConfig YAML/JSON (default: the demo jury and writers)."),
    port: int = typer.Option(8000, help="Port on 127.0.0.1 (0 picks a free one)."),
    port_file: Optional[Path] = typer.Option(None, help="Write the bound port here."),
    log_file: Optional[Path] = typer.Option(None, help="Append one JSON line per request here."),
) -> None:
    """Serve SIMULATED judges and generators on 127.0.0.1 as an OpenAI-compatible API (not real models)."""
    from prefjudge.cli.common import user_errors
    from prefjudge.testing.server import main as serve

    argv = ["--port", str(port)]
    for flag, value in (("--config", config), ("--port-file", port_file), ("--log-file", log_file)):
        if value is not None:
            argv += [flag, str(value)]
    with user_errors():  # a bad --config: one line naming the file, no traceback
        code = serve(argv)
    raise typer.Exit(code)
