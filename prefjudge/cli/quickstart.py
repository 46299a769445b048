"""``prefjudge quickstart``: rank a generated demo set, with a SIMULATED jury unless judges are configured."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

import typer

from . import app
from .common import fail, load_judges_file

BANNER = (
    "=" * 78 + "\n"
    "  SIMULATED JURY: no judge is configured, so prefjudge starts its loopback test server\n"
    "  (prefjudge.testing) with three scripted, deliberately biased simulated judges.\n"
    "  Verdicts below are NOT from real LLMs. Configure real judges with --judges-file\n"
    "  or PREFJUDGE_JUDGES=judges.yaml.\n" + "=" * 78
)


@app.command("quickstart")
def quickstart_command(
    out: Path = typer.Option(Path("runs/quickstart"), help="Folder for the artefacts."),
    n_pairs: int = typer.Option(200, help="Demo pairs to judge."),
    judges_file: Optional[Path] = typer.Option(None, help="YAML list of real judges (else PREFJUDGE_JUDGES, else simulated)."),
    order: str = typer.Option("both", help="random, both or fixed."),
    seed: int = typer.Option(0, help="Seed of the order randomization and the demo data."),
) -> None:
    """Judge a demo preference set end to end and write the results under OUT."""
    from ..io import write_table
    from ..rank import rank_pairs
    from ..testing import SimServer, SimWorld, default_sim_jury, make_demo_pairs

    judges_path = judges_file or (Path(os.environ["PREFJUDGE_JUDGES"]) if os.environ.get("PREFJUDGE_JUDGES") else None)
    world = SimWorld()
    pairs = make_demo_pairs(n_pairs, seed=seed, world=world)
    with contextlib.ExitStack() as stack:
        try:
            if judges_path:
                judges = load_judges_file(judges_path)
                typer.echo(f"judges from {judges_path}: {', '.join(j.name for j in judges)}")
            else:
                typer.secho(BANNER, fg="yellow")
                server = stack.enter_context(SimServer(world=world, seed=seed))
                from ..judge import Judge

                judges = [Judge(j.name, base_url=server.base_url, api_key="simulated") for j in default_sim_jury()]
            result = rank_pairs(pairs, judges=judges, order=order, seed=seed, store=str(out / "store.db"))
        except Exception as exc:
            raise fail(exc) from exc
    df = result.to_pandas()
    ranked = write_table(df, out / "ranked.parquet")
    judgments = write_table(result.judgments, out / "judgments.parquet")
    _summary(df, result)
    typer.echo(f"\nper-pair results: {ranked}\njudgments table:  {judgments}\ncall store:       {out / 'store.db'}")


def _summary(df, result) -> None:
    j = result.judgments
    typer.echo(f"\n{len(df)} pairs, {len(j)} judge calls ({result.meta['n_calls_made']} made, {result.meta['n_calls_cached']} from the store)")
    typer.echo("winners: " + ", ".join(f"{k}={v}" for k, v in df["winner"].value_counts(dropna=False).items()))
    if "quality_a" in df:
        decided = df[df["winner"].isin(["a", "b"])]
        truth = (decided["quality_a"] > decided["quality_b"]).map({True: "a", False: "b"})
        typer.echo(f"agreement with the simulator's latent truth: {(decided['winner'] == truth).mean():.1%} of {len(decided)} decided pairs")
    for name, g in j.groupby("judge"):
        ok = g[g["winner"].isin(["a", "b"])]
        first = ((ok["order"] == "ab") == (ok["winner"] == "a")).mean() if len(ok) else float("nan")
        typer.echo(f"  {name:<12} parsed {g['winner'].notna().mean():.0%}  picked the answer shown first {first:.0%}")
