"""Regenerate the small synthetic samples in this folder (each in its source dataset's schema).

    python prefjudge/recipes/builtin/data/make_samples.py
"""
import json
import random
from pathlib import Path

out = Path(__file__).resolve().parent
rng = random.Random(7)
TOPICS = [("the water cycle", "water evaporates, forms clouds and falls again as rain"),
          ("photosynthesis", "plants use light, water and carbon dioxide to make sugar and oxygen"),
          ("compound interest", "interest is earned on the money and on the interest already earned"),
          ("a binary search", "it halves the sorted list at every step until the item is found"),
          ("the French Revolution", "it began in 1789 and ended the absolute monarchy in France"),
          ("vaccines", "they train the immune system to recognise a germ before an infection"),
          ("supply and demand", "prices rise when demand grows faster than supply"),
          ("the moon phases", "the lit part of the moon we see changes as it orbits the Earth"),
          ("recycling", "used materials are collected and processed into new products"),
          ("a hash table", "keys are hashed to find the slot where their values are stored"),
          ("the heart", "it pumps blood through the lungs and then to the rest of the body"),
          ("volcanoes", "molten rock rises through the crust and erupts at the surface")]
SYSTEMS = ["", "You are a helpful assistant.", "You are an AI assistant. Provide a detailed answer.",
           "You are a teacher. Explain simply."]
def good(topic, fact):
    return f"Sure. Let me explain {topic} step by step. In short, {fact}. I hope this helps."
def bad(topic, fact):
    return rng.choice(["I don't know.", f"{topic}? No idea.", "Maybe. Ask someone else.", "It is what it is."])

def main() -> None:
    # 1. Intel/orca_dpo_pairs: system, question, chatgpt, llama2-13b-chat
    rows = []
    for i in range(24):
        t, f = TOPICS[i % len(TOPICS)]
        rows.append({"system": rng.choice(SYSTEMS), "question": f"Explain {t} in two sentences.",
                     "chatgpt": good(t, f), "llama2-13b-chat": bad(t, f)})
    (out / "orca_dpo_pairs_sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # 2. argilla/distilabel-intel-orca-dpo-pairs (subset of its columns), with rows the seed filters drop
    rows = []
    for i in range(28):
        t, f = TOPICS[i % len(TOPICS)]
        status = "tie" if i % 7 == 3 else "unchanged" if i % 2 else "swapped"
        score = 6.0 if i % 9 == 5 else rng.choice([8.0, 8.5, 9.0, 10.0])
        gsm = i % 11 == 4
        g, b = good(t, f), bad(t, f)
        rows.append({"system": rng.choice(SYSTEMS), "input": f"Explain {t} in two sentences.",
                     "chosen": g, "rejected": b, "generations": [g, b], "order": ["chosen", "rejected"],
                     "labelling_model": "gpt-4-1106-preview", "rating": [score, 3.0],
                     "rationale": "The first answer is accurate and complete; the second is evasive.",
                     "status": status, "original_chosen": g, "original_rejected": b,
                     "chosen_score": score, "in_gsm8k_train": gsm})
    (out / "distilabel_orca_sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # 3. HuggingFaceH4/ultrachat_200k test_sft: prompt, prompt_id, messages
    rows = []
    for i in range(24):
        t, f = TOPICS[i % len(TOPICS)]
        msgs = [{"role": "user", "content": f"What is {t}?"}, {"role": "assistant", "content": good(t, f)}]
        if i % 3 == 0:
            msgs += [{"role": "user", "content": "Can you give one example?"},
                     {"role": "assistant", "content": f"Yes. For example, {f}."}]
        rows.append({"prompt": msgs[0]["content"], "prompt_id": f"{i:04x}" * 16, "messages": msgs})
    (out / "ultrachat_sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # 4. lvwerra/stack-exchange-paired: qid, question, date, metadata, response_j, response_k
    rows = []
    for i in range(24):
        t, f = TOPICS[i % len(TOPICS)]
        rows.append({"qid": 1000 + i, "question": f"How does {t} work? I could not find a clear answer.",
                     "date": "2021/03/0%d" % (1 + i % 9), "metadata": [f"https://stackexchange.com/questions/{1000+i}"],
                     "response_j": f"Good question. {f[0].upper() + f[1:]}. See the linked docs for details.",
                     "response_k": bad(t, f)})
    (out / "stack_exchange_paired_sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # 5. mlabonne/llmtwin-dpo: prompt, chosen (extracted, informal), rejected (generated, formal)
    rows = []
    for i in range(24):
        t, f = TOPICS[i % len(TOPICS)]
        chosen = (f"So here's the thing about {t}: {f}. I've seen people overcomplicate it, but honestly "
                  "it's simpler than it looks once you try it yourself.")
        rejected = (f"{t[0].upper() + t[1:]} is a multifaceted concept that encompasses numerous important "
                    "considerations, and it is essential to approach it comprehensively.")
        rows.append({"prompt": f"Describe {t} in your own words.", "chosen": chosen, "rejected": rejected})
    (out / "llmtwin_dpo_sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # 6. LLM Twin articles in the seed's cleaned_documents.json schema
    arts = []
    for a in range(3):
        sents = []
        for k in range(40):
            t, f = TOPICS[(a * 5 + k) % len(TOPICS)]
            sents.append(rng.choice([
                f"Honestly, the best way to understand {t} is to build something with it.",
                f"Here's what I learned about {t}: {f}.",
                f"I keep coming back to {t} because it shows up everywhere in my work!",
                f"Why does {t} matter so much? Because {f}.",
                f"When I first read about {t}, I didn't get it at all, and that's fine.",
            ]))
        arts.append({"id": f"art-{a}", "content": " ".join(sents) + " -- (draft) #notes",
                     "platform": "blog", "author_id": "a1", "author_full_name": "Sample Author",
                     "link": f"https://example.org/post/{a}"})
    (out / "llm_twin_articles.json").write_text(json.dumps({"artifact_data": arts}, indent=1))
    # 7. held-out evaluation prompts (same topics, a phrasing the training samples do not use)
    rows = [{"prompt": f"Please explain {t} to a beginner."} for t, _ in TOPICS]
    (out / "eval_prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print("ok")


if __name__ == "__main__":
    main()
