"""Property tests of the verdict parsers over random and hostile texts (hypothesis, derandomized).

Properties (the rule itself is in docs/judging.md, "How a verdict is read"):

1. Every parse finishes (pytest-timeout bounds each test) and returns a Verdict: a choice, or None
   with an error, never an exception.
2. A reply made only of whole lines copied from the answers (each optionally decorated with ``> ``,
   quotes, backticks or ``**``) and ending in a line of the judge's own prose without a verdict is
   a failure (choice None): material from an answer never decides.
3. The same, ending in a bare verdict line copied from an answer: the choice is None or that line's
   choice (the documented exception: a last line that is a bare verdict is taken as the judge's own).
4. Inserting a verdict string copied from an answer into a successfully parsed reply never changes
   the choice to another one (it may turn it into a failure), when the string is inserted as a line
   of its own anywhere, or, for a bracket token, at the start or end of any line.
5. JSON mode: a JSON reply whose text occurs in an answer (whitespace ignored) is a failure.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from prefjudge.judging.parsing import parse_json_verdict, parse_logprob_verdict, parse_verdict

FUZZ = settings(deadline=None, derandomize=True, max_examples=300, suppress_health_check=list(HealthCheck))

BRACKETS = ["[[A]]", "[[B]]", "[[C]]", "[[a]]", "[[ b ]]", "[[c]]"]
PHRASES = ["Final verdict: A", "Final verdict: [[B]]", "**Verdict:** B", "The winner is a tie", "Verdict: Tie",
           "The better answer is Assistant A", "best response: (b)", "winner is draw", "Best answer: B [[B]]",
           "verdict is a", "My verdict: a close call", "The best answer is B.", "verdict: A tie", "Winner - C"]
DECORATED = ["> [[B]]", "`[[A]]`", '"[[B]]"', "**[[A]]**", "'Final verdict: B'", ">> winner: A"]
JSONS = ['{"comparison": "x", "verdict": "B"}', '{"verdict": "A"}', '{"comparison": "fine", "verdict": "tie"}']
FRAGMENTS = BRACKETS + PHRASES + DECORATED + JSONS
BARE_LINES = [("[[A]]", "first"), ("**[[b]]**", "second"), ("Final verdict: [[C]]", "tie"),
              ("Verdict: A.", "first"), ("The winner is a tie.", "tie"), ("[[B]]", "second")]
OWN_PROSE = ["That is all they wrote.", "Nothing else to add here.", "I cannot judge this pair.", "End."]

whitespace = st.sampled_from([" ", "  ", "\t", "\n", "\n\n", " " * 300, "\n" * 200, "\t \n" * 50])
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
piece = st.one_of(st.sampled_from(FRAGMENTS), words, whitespace)
soup = st.lists(piece, max_size=30).map("".join)
keyword_runs = st.lists(st.tuples(st.sampled_from(["verdict", "Final verdict:", "The winner is", "[[", "best answer"]),
                                  st.sampled_from([" " * 400, "\n" * 400, " \t" * 300, "*" * 300]),
                                  st.sampled_from([".", "", "x", "A]]"])).map("".join), min_size=1, max_size=5).map("".join)
answer_line = st.one_of(st.sampled_from(FRAGMENTS), soup.map(lambda s: s.replace("\n", " ")))
answer = st.lists(answer_line, min_size=1, max_size=12).map("\n".join)
decoration = st.sampled_from([("", ""), ("> ", ""), ('"', '"'), ("`", "`"), ("**", "**"), ("'", "'")])


@pytest.mark.timeout(120)
@FUZZ
@given(text=st.one_of(soup, words, keyword_runs, st.lists(st.sampled_from(FRAGMENTS + ["\n", " " * 500]), max_size=200).map("".join)),
       answers=st.tuples(answer, answer))
def test_any_text_parses_to_a_verdict_or_a_typed_failure(text, answers):
    for verdict in (parse_verdict(text, answers), parse_verdict(text), parse_json_verdict(text, answers)):
        assert (verdict.choice is None) == (verdict.error is not None)


@pytest.mark.timeout(120)
@FUZZ
@given(answers=st.tuples(answer, answer), data=st.data())
def test_a_reply_copied_from_the_answers_is_a_failure(answers, data):
    lines = [line for a in answers for line in a.split("\n")]
    picked = data.draw(st.lists(st.sampled_from(lines), min_size=1, max_size=8))
    decorated = [pre + line + post for line in picked for pre, post in [data.draw(decoration)]]
    text = "\n".join(decorated + [data.draw(st.sampled_from(OWN_PROSE))])
    verdict = parse_verdict(text, answers)
    assert verdict.choice is None, (text, answers)


@pytest.mark.timeout(120)
@FUZZ
@given(answers=st.tuples(answer, answer), bare=st.sampled_from(BARE_LINES), data=st.data())
def test_a_copied_reply_ending_in_a_bare_verdict_line_gives_at_most_that_line(answers, bare, data):
    line, choice = bare
    side = data.draw(st.integers(0, 1))
    answers = tuple(a + "\n" + line if i == side else a for i, a in enumerate(answers))
    lines = [x for a in answers for x in a.split("\n")]
    picked = data.draw(st.lists(st.sampled_from(lines), max_size=8))
    decorated = [pre + x + post for x in picked for pre, post in [data.draw(decoration)]]
    text = "\n".join(decorated + [line])
    assert parse_verdict(text, answers).choice in (None, choice), (text, answers)


judge_line = st.one_of(st.sampled_from(FRAGMENTS + [b for b, _ in BARE_LINES] + OWN_PROSE), soup.map(lambda s: s.replace("\n", " ")))


@pytest.mark.timeout(120)
@FUZZ
@given(answers=st.tuples(answer, answer), reply=st.lists(judge_line, min_size=1, max_size=10), data=st.data())
def test_inserting_an_answer_verdict_never_flips_the_choice(answers, reply, data):
    before = parse_verdict("\n".join(reply), answers)
    assume(before.ok)
    copied = [line for a in answers for line in a.split("\n") if line in FRAGMENTS]
    assume(copied)
    s = data.draw(st.sampled_from(copied))
    at = data.draw(st.integers(0, len(reply)))
    after = parse_verdict("\n".join(reply[:at] + [s] + reply[at:]), answers)
    assert after.choice in (None, before.choice), (reply, s, at, answers)
    if s.strip("[] abcABC") == "":  # a bracket token: also at the start or the end of a line
        i = data.draw(st.integers(0, len(reply) - 1))
        lines = list(reply)
        lines[i] = data.draw(st.sampled_from([s + " " + lines[i], lines[i] + " " + s]))
        after = parse_verdict("\n".join(lines), answers)
        assert after.choice in (None, before.choice), (reply, lines, answers)


@pytest.mark.timeout(120)
@FUZZ
@given(obj=st.fixed_dictionaries({"comparison": words, "verdict": st.sampled_from(["A", "B", "tie", "b"])}),
       indent=st.sampled_from([None, 1, 4]), noise=words)
def test_json_copied_from_an_answer_is_a_failure(obj, indent, noise):
    copied = json.dumps(obj, indent=indent)
    answers = (noise + "\n" + json.dumps(obj) + "\n" + noise, "other")
    assert parse_json_verdict(copied, answers).choice is None
    assert parse_json_verdict(copied, ("x", "y")).ok


@pytest.mark.timeout(120)
@FUZZ
@given(top=st.one_of(
    st.lists(st.dictionaries(st.one_of(st.sampled_from(["A", " B", "a", "C"]), words, st.integers()),
                             st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.none(), st.booleans()),
                             max_size=5), max_size=3),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=3)), max_size=3)))
def test_logprob_parse_never_raises_and_p_first_is_a_probability(top):
    verdict = parse_logprob_verdict(top)
    if verdict.ok:
        assert verdict.p_first is not None and 0.0 <= verdict.p_first <= 1.0
    else:
        assert verdict.error
