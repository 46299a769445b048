"""The public API is explicit and typed: named keyword parameters (no ``**kwargs``), annotations a
type checker can read, one name per idea, a small ``__all__``, and ``import prefjudge`` stays cheap.

mypy is in the dev extra and one test runs it on a user's script; the others check what a type
checker relies on: the signatures, that the annotations resolve, and that every public name
is imported statically (at module level or under ``if TYPE_CHECKING:``) from where it really lives.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
import types
import typing
import warnings
from pathlib import Path

import pytest

import prefjudge as pj
from prefjudge.errors import InputError

SHARED_RANK = ["order", "seed", "store", "aggregate", "progress"]
SCALE = ["max_cost_usd", "max_calls", "shard", "max_in_flight"]  # docs/scaling.md
VERBS: dict[str, list[str]] = {
    "rank_pairs": ["pairs", "judges", *SHARED_RANK, "out", *SCALE, "batch"],
    "iter_judgments": ["pairs", "judges", "order", "seed", "store", "progress", *SCALE],
    "rank_responses": ["candidates", "judges", "strategy", "seed", "store", "order", "budget", "aggregate", "progress",
                       *SCALE],
    "generate": ["prompts", "generators", "n", "temperature", "system", "seed", "store", "max_tokens", "progress",
                 *SCALE],
    "rate": ["rows", "judges", "template", "reference", "rubric", "seed", "store", "progress"],
    "from_alpaca_eval": ["data", "judge", "human_annotator"],
    "from_preference_dataset": ["data"],
    "aggregate": ["judgments", "aggregate", "quorum", "same_family", "weights", "families"],
    "audit": ["data", "aggregate", "quorum", "same_family", "families", "seed", "n_contested", "probes"],
    "probe": ["pairs", "judges", "probes", "n", "seed", "store"],
    "to_preferences": ["ranked", "min_margin", "min_agreement", "drop_ties", "drop_inconsistent", "length_balance",
                       "format", "chat_template", "filters", "dedup", "decontaminate", "seed", "calibration"],
    "export": ["prefs", "path", "format", "audit", "config", "split", "license", "pretty_name", "overwrite"],
    "push_to_hub": ["prefs", "repo_id", "private", "token", "audit", "config", "commit_message", "endpoint", "split",
                    "license", "pretty_name", "revision", "create_pr", "max_shard_size", "num_shards", "config_name",
                    "data_dir", "commit_description"],
}
TWINS = {"rank_pairs": "arank_pairs", "rank_responses": "arank_responses", "generate": "agenerate", "rate": "arate"}
HEAVY = ("pandas", "numpy", "pyarrow", "openai", "litellm", "httpx", "aiohttp", "torch", "transformers", "trl", "peft",
         "datasets", "huggingface_hub", "matplotlib", "bitsandbytes")
INIT = Path(pj.__file__)


def _hints(fn) -> dict[str, typing.Any]:
    """``typing.get_type_hints`` with what the function's module imports under ``if TYPE_CHECKING:``
    (pandas, datasets...), run as a type checker reads it: the names the annotations use must exist there."""
    module = sys.modules[inspect.unwrap(fn).__module__]
    ns = dict(vars(module))
    for node in ast.parse(Path(module.__file__).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            exec(compile(ast.Module(body=node.body, type_ignores=[]), module.__file__, "exec"), ns)
    return typing.get_type_hints(fn, globalns=ns)


@pytest.mark.parametrize("name", sorted(VERBS))
def test_verbs_have_explicit_annotated_signatures(name):
    sig = inspect.signature(getattr(pj, name))
    assert list(sig.parameters) == VERBS[name]
    kinds = {p.kind for p in sig.parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds
    missing = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: parameters without a type: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty


def test_rank_pairs_signature_as_the_issue_asks():
    params = inspect.signature(pj.rank_pairs).parameters
    assert {"order", "seed", "store", "aggregate", "progress"} <= set(params)
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in SHARED_RANK)
    assert params["order"].default == "random" and params["seed"].default == 0 and params["store"].default is None


@pytest.mark.parametrize("sync,async_", sorted(TWINS.items()))
def test_sync_verbs_mirror_their_async_twins(sync, async_):
    s, a = inspect.signature(getattr(pj, sync)), inspect.signature(getattr(pj, async_))
    assert inspect.iscoroutinefunction(getattr(pj, async_))
    assert [(p.name, p.kind, p.default, p.annotation) for p in s.parameters.values()] == \
           [(p.name, p.kind, p.default, p.annotation) for p in a.parameters.values()]


@pytest.mark.parametrize("name", sorted(VERBS) + sorted(TWINS.values()))
def test_annotations_resolve(name):
    hints = _hints(getattr(pj, name))
    assert "return" in hints and set(VERBS.get(name) or VERBS[next(k for k, v in TWINS.items() if v == name)]) <= set(hints)


def test_rank_pairs_hints_are_real_types():
    hints = _hints(pj.rank_pairs)
    assert hints["return"] is pj.RankResult
    assert hints["seed"] is int
    assert pj.Store in typing.get_args(hints["store"]) and type(None) in typing.get_args(hints["store"])
    assert typing.get_args(hints["order"]) == ("random", "both", "fixed", "adaptive")
    assert "majority" in typing.get_args(typing.get_args(hints["aggregate"])[0])


def test_audit_wrappers_mirror_the_importers():
    from prefjudge.audit import importers

    for name in ("from_alpaca_eval", "from_preference_dataset"):
        assert inspect.signature(getattr(pj, name)) == inspect.signature(getattr(importers, name))


def test_no_public_callable_takes_var_keywords():
    pass_through = {"load_preferences"}  # **load_kwargs go to datasets.load_dataset as they are
    for name in set(pj.__all__) - pass_through:
        obj = getattr(pj, name)
        if inspect.isfunction(obj):
            kinds = {p.kind for p in inspect.signature(obj).parameters.values()}
            assert inspect.Parameter.VAR_KEYWORD not in kinds, name


def _static_imports(path: Path) -> dict[str, tuple[str, str]]:
    """Names bound by imports at module level or under ``if TYPE_CHECKING:``: name -> (module, attribute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = "prefjudge" if path.name == "__init__.py" and path.parent.name == "prefjudge" else \
        "prefjudge." + path.parent.name
    nodes = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            nodes += node.body
    out = {}
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = (package, node.name)
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            for alias in node.names:
                out[alias.asname or alias.name] = (base, alias.name)
    return out


@pytest.mark.parametrize("package", ["prefjudge", "prefjudge.train", "prefjudge.recipes", "prefjudge.testing", "prefjudge.curate",
                                     "prefjudge.audit"])
def test_every_public_name_is_visible_to_type_checkers(package):
    mod = importlib.import_module(package)
    static = _static_imports(Path(mod.__file__))
    missing = sorted(set(mod.__all__) - set(static))
    assert not missing, f"{package}: not imported for type checkers: {missing}"
    for name in mod.__all__:
        module, attr = static[name]
        real = getattr(importlib.import_module(module), attr)
        assert getattr(mod, name) is real, f"{package}.{name} is not {module}.{attr}"


def test_all_is_cut_to_verbs_and_types():
    helpers = {"seed_filters", "llm_twin_filters", "min_chosen_chars", "chosen_starts_upper", "chosen_ends_with",
               "max_prompt_chars", "build_card", "share_longer", "train_config_from_dict", "load_train_config"}
    assert not helpers & set(pj.__all__)
    assert not helpers & set(dir(pj))
    assert {"rank_pairs", "rank_responses", "generate", "audit", "aggregate", "Jury", "Judge", "to_preferences",
            "export", "push_to_hub", "RankResult", "AuditReport"} <= set(pj.__all__)


def test_helpers_at_the_root_still_work_with_a_warning_naming_their_home():
    assert pj._DEPRECATED, "the map of moved names"
    for name, home in pj._DEPRECATED.items():
        module, _, attr = home.rpartition(".")
        if isinstance(vars(pj).get(name), types.ModuleType):
            continue  # "majority": the submodule prefjudge.aggregation.jury, once imported, is the attribute
        with pytest.warns(DeprecationWarning, match=rf"prefjudge\.{name}.*{home}"):
            obj = getattr(pj, name)
        assert obj is getattr(importlib.import_module(module), attr)
    with pytest.raises(AttributeError):
        pj.no_such_name  # noqa: B018 (the attribute access is the test)


def test_main_names_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in pj.__all__:
            getattr(pj, name)


def test_old_keyword_names_still_work_with_a_warning():
    table = [{"pair_id": "p1", "judge": "j1", "winner": "a"}, {"pair_id": "p1", "judge": "j2", "winner": "a"},
             {"pair_id": "p1", "judge": "j3", "winner": "b"}]
    with pytest.warns(DeprecationWarning, match=r"aggregate\(rule=...\).*aggregate="):
        old = pj.aggregate(table, rule="call_majority")
    assert old.outcomes.equals(pj.aggregate(table, aggregate="call_majority").outcomes)
    assert old.meta["aggregate"] == "call_majority"
    with pytest.warns(DeprecationWarning, match=r"audit\(rule=...\)"):
        rep = pj.audit(table, rule="mean")
    assert rep.to_dict() == pj.audit(table, aggregate="mean").to_dict()
    with pytest.raises(TypeError, match="both"):
        pj.aggregate(table, rule="mean", aggregate="majority")
    with pytest.warns(DeprecationWarning, match=r"rank_responses\(cands=...\)"), pytest.raises(InputError):
        pj.rank_responses(cands=[], judges=pj.Judge("gpt-sim", base_url="http://127.0.0.1:9/v1"))


def test_audit_is_the_function_after_any_import_of_the_package():
    code = ("import sys, types, inspect, prefjudge.audit.render.html, prefjudge.audit; from prefjudge.audit import AuditReport; "
            "import prefjudge as pj; from prefjudge import audit; "
            "pkg = sys.modules['prefjudge.audit']; "
            "print(inspect.isfunction(pj.audit), audit is pj.audit is pkg.audit, type(pkg) is types.ModuleType, "
            "hasattr(pkg, 'render'), AuditReport is pj.AuditReport, "
            "type(pj.audit([{'pair_id': 1, 'judge': 'j', 'winner': 'a'}])).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True", "True", "True", "AuditReport"]


def test_import_is_cheap_and_public_names_load_lazily():
    code = ("import sys, prefjudge; print(sorted(m for m in %r if m in sys.modules)); "
            "[getattr(prefjudge, n) for n in prefjudge.__all__]; "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'litellm', 'matplotlib', 'bitsandbytes') "
            "if m in sys.modules))") % (HEAVY,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


@pytest.mark.timeout(600)
def test_mypy_sees_the_public_types(tmp_path):
    """Runs where mypy is installed (the dev extra): pj.* resolve to the real functions, and a wrong
    argument or an old keyword name is a type error."""
    api = pytest.importorskip("mypy.api")
    src = tmp_path / "use_api.py"
    src.write_text(
        "import prefjudge as pj\nimport prefjudge.audit\n"
        "reveal_type(pj.rank_pairs)\nreveal_type(pj.audit)\nreveal_type(pj.Jury)\n"
        "pj.rank_pairs([], pj.Judge('m'), order='sideways')\n"
        "pj.rank_pairs([], pj.Judge('m'), rule='mean')\n"
        "report: pj.AuditReport = pj.audit([], aggregate='mean')\n", encoding="utf-8")
    out, err, _ = api.run([str(src), "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
                           "--follow-imports=silent", "--ignore-missing-imports", "--no-error-summary"])
    lines = out.splitlines()
    assert any(":3:" in ln and "def (pairs:" in ln and "-> prefjudge.result.RankResult" in ln for ln in lines), out
    assert any(":4:" in ln and "-> prefjudge.audit.report.AuditReport" in ln for ln in lines), out
    assert any(":6:" in ln and 'Argument "order"' in ln for ln in lines), out
    assert any(":7:" in ln and 'Unexpected keyword argument "rule"' in ln for ln in lines), out
    assert not any(":8:" in ln and "error" in ln for ln in lines), out


def test_review_export_offers_every_selection_option_of_select_pairs():
    """``pj.review.export`` spells out ``select_pairs``' options (typed, visible to help()); they must
    stay the same names, defaults and annotations."""
    pytest.importorskip("label_studio_sdk")
    from prefjudge.integrations import review
    from prefjudge.integrations.review.selection import select_pairs

    export = inspect.signature(review.export).parameters
    for name, param in inspect.signature(select_pairs).parameters.items():
        assert name in export, name
        assert (export[name].default, export[name].annotation, export[name].kind) == \
            (param.default, param.annotation, param.kind), name
