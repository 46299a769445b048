"""pj.review against a real Label Studio server on 127.0.0.1: the docs/review.md example exports
the pairs, a "reviewer" annotates every task through Label Studio's REST API, and the labels come
back into the human column that the audit reads.

The server (the ``label-studio`` package) lives in its own venv, .venv-label-studio, made by
scripts/label-studio-venv.sh (or the binary in LABEL_STUDIO_BIN); it runs on SQLite in a temporary
data directory with a user and a token created from environment variables, and is stopped (its
whole process group) when the module's tests end, pass or fail. The test is skipped only when the
server cannot be installed for want of the package index.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import prefjudge as pj

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "prefjudge-review-test-token-0123"
NO_INDEX = re.compile(r"No matching distribution found|Could not find a version that satisfies|NewConnectionError|"
                      r"Temporary failure in name resolution|Network is unreachable|Max retries exceeded|ProxyError")


def _server_binary() -> str:
    given = os.environ.get("LABEL_STUDIO_BIN")
    if given:
        assert Path(given).is_file(), f"LABEL_STUDIO_BIN={given} is not a file"
        return given
    started = time.monotonic()
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "label-studio-venv.sh")], capture_output=True, text=True, timeout=1500)
    if proc.returncode != 0:
        if NO_INDEX.search(proc.stderr + proc.stdout):
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            pytest.skip(f"the Label Studio server cannot be installed here (no route to the package index): {last}")
        pytest.fail(f"scripts/label-studio-venv.sh failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    print(f"[label-studio] venv ready in {time.monotonic() - started:.1f} s")
    return proc.stdout.strip().splitlines()[-1]


def _need_sdk() -> None:
    """The client is a declared extra of the test venv: missing, it is a failure, not a skip."""
    try:
        import label_studio_sdk  # noqa: F401
    except ImportError:
        pytest.fail('label-studio-sdk is not installed in this venv: pip install "prefjudge[review]" (pins in constraints/ci.txt)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = TOKEN) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """The URL of a fresh Label Studio server whose user has the legacy token TOKEN."""
    binary = _server_binary()
    data = tmp_path_factory.mktemp("label-studio")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LABEL_STUDIO_", "HEARTEX_", "DJANGO_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data), "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_USERNAME": "reviewer@example.com", "LABEL_STUDIO_PASSWORD": "review-test-password",
        "LABEL_STUDIO_USER_TOKEN": TOKEN, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false", "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    })
    log = data / "server.log"
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=data,
                                start_new_session=True)
    try:
        deadline = started + 900
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Label Studio exited ({proc.returncode}) before it answered:\n{log.read_text()[-3000:]}")
            try:
                if _get(f"{url}/api/projects")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Label Studio did not answer on {url} within 900 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        print(f"[label-studio] server answered after {time.monotonic() - started:.1f} s")
        yield url
    finally:
        _stop(proc)


def _docs_blocks() -> list[str]:
    text = (ROOT / "docs" / "review.md").read_text(encoding="utf-8")
    section = text.split("## A runnable example", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _annotate_like_a_person(url: str, project_id: int, quality: dict[str, float]) -> int:
    """Read each task as Label Studio shows it and submit the better answer's choice; on the first
    task also submit a skipped annotation with the wrong choice first (it must not count)."""
    status, body = _get(f"{url}/api/tasks?project={project_id}&page_size=1000")
    assert status == 200, body
    tasks = json.loads(body)["tasks"]
    for k, task in enumerate(tasks):
        q1, q2 = quality[task["data"]["answer_1"]], quality[task["data"]["answer_2"]]
        choice = "1" if q1 > q2 else "2" if q2 > q1 else "tie"
        submissions = [({"1": "2", "2": "1", "tie": "1"}[choice], True)] if k == 0 else []
        for value, skipped in [*submissions, (choice, False)]:
            payload = {"result": [{"from_name": "preference", "to_name": "prompt", "type": "choices",
                                   "value": {"choices": [value]}}], "lead_time": 4.2, "was_cancelled": skipped}
            req = urllib.request.Request(f"{url}/api/tasks/{task['id']}/annotations/", data=json.dumps(payload).encode(),
                                         method="POST", headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 201
    return len(tasks)


def test_the_docs_example_exports_annotates_collects_and_audits(label_studio, tmp_path, monkeypatch, capsys):
    _need_sdk()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    export_block, collect_block = _docs_blocks()
    ns: dict = {}
    exec(compile(export_block, "docs/review.md", "exec"), ns)
    project, result, pairs = ns["project"], ns["result"], ns["pairs"]
    out = capsys.readouterr().out
    assert f"tasks in Label Studio project {project.project_id} at {label_studio}" in out

    # what was sent: the groups asked for, both display orders, the texts of each pair
    assert len(project.pair_ids("contested")) == 10 and len(project.pair_ids("inconsistent")) == 5
    assert len(project.pair_ids("random")) == 15 and len(project.tasks) == len(set(project.pair_ids()))
    assert {t.answer_1 for t in project.tasks} == {"a", "b"}
    by_id = {p["id"]: p for p in pairs}
    quality = {p[f"response_{s}"]: p[f"quality_{s}"] for p in pairs for s in "ab"}

    n_tasks = _annotate_like_a_person(label_studio, project.project_id, quality)
    assert n_tasks == len(project.tasks)
    exec(compile(collect_block, "docs/review.md", "exec"), ns)
    labelled, report = ns["labelled"], ns["report"].to_dict()

    truth = {pid: "a" if p["quality_a"] > p["quality_b"] else "b" for pid, p in by_id.items()}
    human = dict(zip(labelled.pairs["id"], labelled.pairs["human"]))
    reviewed = project.pair_ids()
    assert {pid: human[pid] for pid in reviewed} == {pid: truth[pid] for pid in reviewed}  # mapped back through the display order
    assert all(human[pid] is None for pid in human if pid not in reviewed)
    assert report["meta"]["n_pairs_with_human"] == len(reviewed)
    jury = result.outcomes["winner"]
    entry = report["jury"]["human_agreement"]
    parsed = [pid for pid in reviewed if jury[pid] is not None]
    assert entry["n"] == len(parsed) and entry["value"] == pytest.approx(sum(jury[p] == truth[p] for p in parsed) / len(parsed))
    assert all(report["judges"][j]["human_agreement"]["n"] > 0 for j in report["judges"])
    random_only = ns["random_only"].to_dict()
    assert random_only["meta"]["n_pairs_with_human"] == len(project.pair_ids("random"))

    labels = pj.review.fetch_labels(project.project_id, url=label_studio, api_key=TOKEN)
    assert len(labels) == n_tasks  # the skipped annotation is left out
    assert set(labels["human"]) <= {"a", "b"} and (labels["lead_time"] == 4.2).all()


def test_a_refused_token_is_a_clear_error_that_does_not_show_it(label_studio):
    _need_sdk()
    bad = "not-the-token-5f3a9c"
    with pytest.raises(pj.review.LabelStudioError) as e:
        pj.review.fetch_labels(1, url=label_studio, api_key=bad)
    assert e.value.status == 401 and label_studio in str(e.value) and bad not in str(e.value)
    with pytest.raises(pj.review.LabelStudioError, match="cannot reach the server"):
        pj.review.fetch_labels(1, url=f"http://127.0.0.1:{_free_port()}", api_key=TOKEN)


def test_instructions_and_several_reviewers_per_task_reach_the_project(label_studio):
    _need_sdk()
    table = [{"pair_id": f"q{i}", "judge": j, "winner": w, "prompt": f"question {i}?", "response_a": f"yes {i}",
              "response_b": f"no {i}"} for i in range(4) for j, w in (("j1", "a"), ("j2", "b" if i < 2 else "a"))]
    project = pj.review.export(table, url=label_studio, api_key=TOKEN, title="two reviewers", n_contested=5, n_inconsistent=0,
                               n_random=0, instructions="<p>Pick the more <b>helpful</b> answer.</p>", annotators_per_task=2)
    assert sorted(project.pair_ids("contested")) == ["q0", "q1"]  # where the two judges split
    status, body = _get(f"{label_studio}/api/projects/{project.project_id}")
    settings = json.loads(body)
    assert status == 200 and settings["maximum_annotations"] == 2 and settings["show_instruction"] is True
    assert settings["expert_instruction"] == "<p>Pick the more <b>helpful</b> answer.</p>" and settings["title"] == "two reviewers"
    assert settings["label_config"] == pj.review.LABEL_CONFIG
