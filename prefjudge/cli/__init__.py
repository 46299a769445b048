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

# Sub-commands live in their own modules; each registers itself on `app` when imported.
_COMMAND_MODULES = ["prefjudge.cli.rank", "prefjudge.cli.quickstart", "prefjudge.cli.sim"]
_OPTIONAL_APPS = [
    # (module, attribute, kind, name): mounted when the module exists.
    ("prefjudge.audit.cli", "audit_command", "command", "audit"),
    ("prefjudge.curate.cli", "curate_command", "command", "curate"),
    ("prefjudge.train.cli", "app", "typer", "train"),
    ("prefjudge.train.cli", "merge_command", "command", "merge"),
    ("prefjudge.train.cli", "eval_command", "command", "eval"),
    ("prefjudge.train.cli", "recipe_app", "typer", "recipe"),
]

for _m in _COMMAND_MODULES:
    importlib.import_module(_m)
for _module, _attr, _kind, _name in _OPTIONAL_APPS:
    try:
        _obj = getattr(importlib.import_module(_module), _attr)
    except (ImportError, AttributeError):
        continue
    if _kind == "command":
        app.command(_name)(_obj)
    else:
        app.add_typer(_obj, name=_name)


def main() -> None:
    app()
