"""Write the prompts of prefjudge/recipes/builtin/curate_judge_train.yaml (the instructions of prefjudge's demo set).

    python prefjudge/recipes/builtin/data/make_pipeline_prompts.py

``pipeline_prompts.jsonl``: 160 instructions to answer, judge and curate; ``pipeline_eval_prompts.jsonl``:
the other 48, held out for the evaluation (the curate step also decontaminates against them).
"""
import json
from pathlib import Path

from prefjudge.testing import make_demo_prompts


def main() -> None:
    out = Path(__file__).resolve().parent
    prompts = make_demo_prompts(208, seed=0)  # 8 tasks x 26 topics, all distinct, shuffled
    for name, rows in (("pipeline_prompts.jsonl", prompts[:160]), ("pipeline_eval_prompts.jsonl", prompts[160:])):
        (out / name).write_text("".join(json.dumps({"prompt": p}) + "\n" for p in rows))


if __name__ == "__main__":
    main()
