"""Seed 003: build a style-preference dataset from your own articles (LLM Twin).

Articles are cleaned (keep letters, digits, whitespace and ``. , ! ? '``), cut into 1,000 to
2,000 character chunks at sentence ends, and an LLM writes five triples per chunk
``{instruction, generated_answer, extracted_answer}``; the extracted answer is a verbatim
excerpt of the chunk. chosen = extracted (human-written), rejected = generated. Rows whose
chosen is shorter than 100 characters or does not start upper-case and end in ``. ! ?`` are
dropped.

>>> clean_text("Hello -- world!!  (really)")
'Hello world!! really'
>>> [len(c) for c in extract_chunks(["One. " * 30], min_length=40, max_length=100)]
[99, 49]

Generators: ``openai`` (any OpenAI-compatible endpoint, JSON mode, as in the seed) and
``extractive``, an offline deterministic stand-in for CI smoke runs: it copies sentences of the
chunk as the extracted answer and writes a generic, blander answer as the rejected one. It makes
no claim about real LLM output; it only lets the pipeline run end to end without a network.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefjudge.errors import ConfigError, InputError
from prefjudge.train.sources import llm_twin_reject_reason

SYSTEM_PROMPT = (
    "You are a helpful assistant who generates instruction-answer triples based on the given context. "
    "Each triple should include an instruction, a generated answer, and an extracted answer from the "
    "context. Provide your response in JSON format."
)
TRIPLE_PROMPT = """Based on the following extract, generate five instruction-answer triples. Each triple should consist of:
1. An instruction asking about a specific topic in the context.
2. A generated answer that attempts to answer the instruction based on the context.
3. An extracted answer that is a relevant excerpt directly from the given context.
Instructions must be self-contained and general, without explicitly mentioning a context, system, course, or extract.
Important:
- Ensure that the extracted answer is a verbatim copy from the context, including all punctuation and apostrophes.
- Do not add any ellipsis (...) or [...] to indicate skipped text in the extracted answer.
- If the relevant text is not continuous, use two separate sentences from the context instead of skipping text.
Provide your response in JSON format with the following structure:
{{"preference_triples": [{{"instruction": "...", "generated_answer": "...", "extracted_answer": "..."}}, ...]}}
Extract:
{extract}
"""
SENTENCE_END = r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?|\!)\s"
Generate = Callable[[str], str]


def clean_text(text: str) -> str:
    """The LLM Twin tutorial's cleaning: non-word characters except ``. , ! ? '`` become spaces; collapse."""
    text = re.sub(r"[^\w\s.,!?']", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def extract_chunks(articles: list[str], min_length: int = 1000, max_length: int = 2000) -> list[str]:
    """Cut cleaned articles into chunks of ``min_length``..``max_length`` characters at sentence ends."""
    chunks = []
    for article in articles:
        current = ""
        for sentence in re.split(SENTENCE_END, clean_text(article)):
            sentence = sentence.strip()
            if not sentence:
                continue
            if len(current) + len(sentence) <= max_length:
                current += sentence + " "
            else:
                if len(current) >= min_length:
                    chunks.append(current.strip())
                current = sentence + " "
        if len(current) >= min_length:
            chunks.append(current.strip())
    return chunks


def parse_triples(reply: str) -> list[tuple[str, str, str]]:
    """``(instruction, generated, extracted)`` triples from the model's JSON reply."""
    try:
        data = json.loads(reply)
        return [(t["instruction"], t["generated_answer"], t["extracted_answer"])
                for t in data["preference_triples"]]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"reply is not the expected JSON ({type(err).__name__}: {err})",
                         field="preference_triples") from None


def read_articles(path: Path) -> list[str]:
    """Article texts from the LLM Twin tutorial's ``{"artifact_data": [{"content": ...}]}`` JSON, a JSONL
    file with a ``content`` field, or a directory of ``.txt``/``.md`` files."""
    if path.is_dir():
        return [p.read_text() for p in sorted(path.iterdir()) if p.suffix in (".txt", ".md")]
    if path.suffix == ".jsonl":
        return [json.loads(line)["content"] for line in path.read_text().splitlines() if line.strip()]
    data = json.loads(path.read_text())
    items = data["artifact_data"] if isinstance(data, dict) else data
    return [item["content"] for item in items]


def openai_generator(model: str = "gpt-4o-mini", base_url: str | None = None,
                     api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.7,
                     max_tokens: int = 2000) -> Generate:
    """The LLM Twin tutorial's call: chat completion in JSON mode (the SDK retries 429/5xx itself)."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "missing-key")

    def generate(chunk: str) -> str:
        completion = client.chat.completions.create(
            model=model, temperature=temperature, max_tokens=max_tokens,
            response_format={"type": "json_object"},
            messages=[{"role": "system", "content": SYSTEM_PROMPT},
                      {"role": "user", "content": TRIPLE_PROMPT.format(extract=chunk)}])
        return completion.choices[0].message.content or ""

    return generate


def extractive_generator(seed: int = 0) -> Generate:
    """Offline stand-in (smoke runs): verbatim sentences as chosen, a bland rewrite as rejected."""

    def generate(chunk: str) -> str:
        rng = random.Random(f"{seed}:{chunk[:64]}")
        sentences = [s for s in re.split(SENTENCE_END, chunk) if s.strip()]
        triples = []
        for _ in range(5):
            i = rng.randrange(len(sentences))
            extracted = " ".join(sentences[i:i + 2]).strip()
            words = [w for w in re.findall(r"[A-Za-z]{5,}", extracted)] or ["this"]
            topic = rng.choice(words).lower()
            triples.append({"instruction": f"Explain what matters about {topic}.",
                            "generated_answer": f"In general, {topic} is an important topic with many "
                                                "aspects that should be considered carefully.",
                            "extracted_answer": extracted})
        return json.dumps({"preference_triples": triples})

    return generate


GENERATORS: dict[str, Callable[..., Generate]] = {"openai": openai_generator, "extractive": extractive_generator}


def make_generator(spec: dict[str, Any]) -> Generate:
    spec = dict(spec)
    kind = spec.pop("kind", None)
    spec.pop("workers", None)
    if kind not in GENERATORS:
        raise ConfigError(f"field 'generator.kind': {kind!r}; known: {', '.join(GENERATORS)}")
    return GENERATORS[kind](**spec)


def build_llm_twin_dataset(articles: str | Path, out: str | Path, generator: dict[str, Any], *,
                           min_chunk_chars: int = 1000, max_chunk_chars: int = 2000,
                           min_chosen_chars: int = 100) -> dict[str, Any]:
    """Chunk articles, generate triples, filter, write ``out`` (JSONL: prompt, chosen, rejected).

    Returns the counts at each stage and the reasons rows were dropped.
    """
    texts = read_articles(Path(articles))
    chunks = extract_chunks(texts, min_chunk_chars, max_chunk_chars)
    generate = make_generator(generator)
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(generator.get("workers", 4))) as pool:
        replies = list(pool.map(generate, chunks))
    triples = [t for reply in replies for t in parse_triples(reply)]
    rows, dropped = [], Counter()
    for instruction, generated, extracted in triples:
        reason = llm_twin_reject_reason(extracted, min_chosen_chars)
        if reason:
            dropped[reason] += 1
        else:
            rows.append({"prompt": instruction, "chosen": extracted, "rejected": generated})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"path": str(out), "articles": len(texts), "chunks": len(chunks), "triples": len(triples),
            "kept": len(rows), "dropped": dict(dropped)}
