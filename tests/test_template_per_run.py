"""A judge's template is loaded once per run (Engine.template), not once or more per call; a file
edited between runs is read again by the next run."""

from __future__ import annotations

import prefjudge as pj
import prefjudge.judging.judge as judge_module
from prefjudge.judging.templates import parse_template
from prefjudge.testing.scripted import ScriptedServer

TEMPLATE = "=== user ===\n{{question}}\nA: {{answer_a}}\nB: {{answer_b}}\n%s\n"
FIRST = "Say [[A]] or [[B]]."
SECOND = "Now reply with [[A]] or [[B]] only, please."


def _pairs(n: int) -> list[dict]:
    return [{"id": f"p{i}", "prompt": f"Question {i}?", "response_a": f"Answer {i}.", "response_b": f"Other {i}."}
            for i in range(n)]


def _rank(server: ScriptedServer, template: str, n: int, *, store=None, **options) -> pj.RankResult:
    judge = pj.Judge("m", base_url=server.base_url, api_key="x", max_retries=0, template=template)
    return pj.rank_pairs(_pairs(n), judges=[judge], order="both", store=store, progress=False, **options)


def _user_texts(server: ScriptedServer) -> list[str]:
    return [body["messages"][0]["content"] for body in server.requests]


def test_a_run_loads_its_template_a_fixed_number_of_times_whatever_the_number_of_calls(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text(TEMPLATE % FIRST, encoding="utf-8")
    loads: list[str] = []
    real = judge_module.load_template

    def counting(name_or_path: str):
        loads.append(name_or_path)
        return real(name_or_path)

    monkeypatch.setattr(judge_module, "load_template", counting)

    def reply(body: dict) -> str:  # unreadable first: every call is re-asked, which parses again
        return "[[A]]" if len(body["messages"]) > 1 else "no verdict"

    counts = []
    with ScriptedServer(reply) as server:
        for n in (2, 12):
            loads.clear()
            result = _rank(server, str(path), n)
            assert len(result.judgments) == 2 * n and result.judgments["winner"].notna().all()
            counts.append(len(loads))
    assert counts[0] == counts[1], f"template loads per run grow with the calls: {counts}"


def test_a_template_edited_during_a_run_is_not_mixed_into_it(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEMPLATE % FIRST, encoding="utf-8")

    def reply(body: dict) -> str:  # the file is replaced (another size, whole) while the run goes on
        new = tmp_path / "t.new"
        new.write_text(TEMPLATE % SECOND, encoding="utf-8")
        new.replace(path)
        return "[[A]]"

    with ScriptedServer(reply) as server:
        result = _rank(server, str(path), 6, max_in_flight=1)  # one call at a time: each rendered after the edit
        texts = _user_texts(server)
    assert len(texts) == 12 and all(FIRST in t for t in texts), "every call of a run uses the template it started with"
    assert result.judgments["winner"].notna().all()
    used = parse_template(TEMPLATE % FIRST, "t").sha256
    assert result.meta["judges"][0]["template_sha256"] == used, "the provenance names the template the calls used"


def test_a_template_file_edited_between_runs_is_read_again_by_the_next_run(tmp_path):
    path, store = tmp_path / "t.txt", tmp_path / "s.db"
    path.write_text(TEMPLATE % FIRST, encoding="utf-8")
    with ScriptedServer(lambda body: "[[B]]") as server:
        first = _rank(server, str(path), 3, store=store)
        assert len(server.requests) == 6 and all(FIRST in t for t in _user_texts(server))
        path.write_text(TEMPLATE % SECOND, encoding="utf-8")
        second = _rank(server, str(path), 3, store=store)
        new = _user_texts(server)[6:]
    assert len(new) == 6 and all(SECOND in t for t in new), "the edited file is rendered (and called: new request keys)"
    sha = [r.meta["judges"][0]["template_sha256"] for r in (first, second)]
    assert sha[0] != sha[1]
    assert second.meta["n_calls_made"] == 6 and second.meta["n_calls_cached"] == 0
