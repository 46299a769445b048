"""The ``prefjudge`` command line. Thin: it parses arguments, calls the library and prints."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="prefjudge",
    help="Build trustworthy LLM-judged preference datasets for DPO: judge pairs with order "
    "randomization, audit judge bias, curate, train (QLoRA DPO) and evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Sub-commands live in their own modules. Those that define `@app.command` register themselves on
# import; the others expose a command function or a sub-app, mounted here. No ImportError is
# swallowed: a broken command module is a broken CLI, and `prefjudge --help` says so at once.
_COMMAND_MODULES = ["prefjudge.cli.rank", "prefjudge.cli.probe", "prefjudge.cli.quickstart", "prefjudge.cli.sim"]
_MOUNTED = [
    # (module, attribute, kind, name)
    ("prefjudge.cli.audit", "audit_command", "command", "audit"),
    ("prefjudge.cli.curate", "curate_command", "command", "curate"),
    ("prefjudge.cli.train", "app", "typer", "train"),
    ("prefjudge.cli.train", "merge_command", "command", "merge"),
    ("prefjudge.cli.train", "eval_command", "command", "eval"),
    ("prefjudge.cli.train", "recipe_app", "typer", "recipe"),
    ("prefjudge.cli.store", "app", "typer", "store"),
]

for _m in _COMMAND_MODULES:
    importlib.import_module(_m)
for _module, _attr, _kind, _name in _MOUNTED:
    _obj = getattr(importlib.import_module(_module), _attr)
    if _kind == "command":
        app.command(_name)(_obj)
    else:
        app.add_typer(_obj, name=_name)


def main() -> None:
    app()
