"""Benchmark: peak memory and step time of LoRA DPO variants on a ~28M-parameter local model.

    nice -n 10 .venv/bin/python bench/bench_train.py [--steps 8] [--batch 2] [--max-length 128] [--out runs/bench/train.json]

One run, six configurations, each in its own processes (so each peak is its own): 4-bit (nf4,
double quant) vs unquantized (fp32) LoRA, times three reference setups: the base with the
adapter disabled (TRL's default with PEFT, one copy of the weights), a separately loaded
reference model, and reference log-probs precomputed before training. For each: the bytes held
by the model's tensors (weights, 4-bit quant states, LoRA; plus the reference model when one is
loaded), the growth of resident memory during the training steps (activations, gradients,
optimizer state, temporaries; measured after returning freed heap to the OS), the peak resident
memory, the CPU time per step (median; all threads, so not inflated when other processes hold
the cores) and the best wall time per step (first step excluded), and prefjudge's estimate for both parts in
CPU mode (fp32 activations, no CUDA context, fragmentation overhead left out). CPU only: this machine has no
GPU, so the numbers show how the variants compare, not GPU figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Memory runs: large blocks are mmapped and returned to the OS when freed, so resident memory
# follows the tensors alive at each moment instead of glibc's high-water mark. That makes every
# large allocation a page-faulting mmap (slow, above all for bitsandbytes' per-call dequantized
# weights), so step times come from a second run of each variant with the default allocator.
CHILD_ENV = {"TQDM_DISABLE": "1", "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
VARIANTS = [
    {"name": "4bit / adapter-disabled ref", "quant": "4bit", "reference": "adapter_disabled", "precompute": False},
    {"name": "4bit / separate ref model", "quant": "4bit", "reference": "separate", "precompute": False},
    {"name": "4bit / precomputed ref", "quant": "4bit", "reference": "adapter_disabled", "precompute": True},
    {"name": "fp32 / adapter-disabled ref", "quant": "none", "reference": "adapter_disabled", "precompute": False},
    {"name": "fp32 / separate ref model", "quant": "none", "reference": "separate", "precompute": False},
    {"name": "fp32 / precomputed ref", "quant": "none", "reference": "adapter_disabled", "precompute": True},
]


def make_data(model_path: str, path: Path, n_rows: int, max_length: int) -> None:
    """Preference rows whose prompt + longer answer nearly fill ``max_length`` tokens."""
    import random

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    rng = random.Random(0)
    words = "the model explains the answer carefully and the judge compares two responses today".split()
    rows = []
    for i in range(n_rows):
        prompt = f"Question {i}: explain the result step by step."
        rendered = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                           add_generation_prompt=True)
        budget = max_length - len(tok(rendered)["input_ids"]) - 2
        answer = []
        while len(tok(" ".join(answer + [words[0]]))["input_ids"]) < budget:
            answer.append(rng.choice(words))
        rows.append({"prompt": prompt, "chosen": " ".join(answer), "rejected": " ".join(reversed(answer))})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def config(variant: dict, model_path: str, data: Path, out: Path, args) -> dict:
    return {
        "model": {"name_or_path": model_path},
        "quantization": {"mode": variant["quant"], "compute_dtype": "float32"},
        "lora": {"r": 16, "alpha": 16, "dropout": 0.05},
        "data": {"path": str(data), "loader": "preference", "format": "standard"},
        "dpo": {"max_steps": args.steps, "learning_rate": 1e-4, "per_device_train_batch_size": args.batch,
                "max_length": args.max_length, "gradient_checkpointing": True, "logging_steps": 1,
                "reference": variant["reference"], "precompute_ref_log_probs": variant["precompute"],
                "precision": "fp32", "optim": "adamw_torch"},
        "device": "cpu", "output_dir": str(out),
    }


class RssSampler:
    """Peak resident memory of this process between start() and stop() (sampled every 2 ms)."""

    def __init__(self) -> None:
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def start(self) -> int:
        """Return freed heap to the OS first, so growth from here is new allocations."""
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        self.start_rss = self.proc.memory_info().rss
        self._thread.start()
        return self.start_rss

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def tensor_mb(model) -> float:
    """Bytes held by a model's parameters and buffers, with bitsandbytes' 4-bit quant states."""
    if model is None:
        return 0.0
    total = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    for m in model.modules():
        state = getattr(getattr(m, "weight", None), "quant_state", None)
        if state is not None:
            total += sum(v.numel() * v.element_size() for v in state.as_dict(packed=True).values()
                         if hasattr(v, "element_size"))
    return total / 2**20


def child(cfg_json: str) -> None:
    """Run one variant and print one JSON line."""
    import torch
    from transformers import TrainerCallback

    from prefjudge.train.common import step_timer
    from prefjudge.train.config import config_from_dict
    from prefjudge.train.dpo import build_dpo_trainer
    from prefjudge.train.memory import estimate_memory
    from prefjudge.train.runtime import count_linear4bit, silence_bitsandbytes

    silence_bitsandbytes()
    cfg = config_from_dict(json.loads(cfg_json))
    sampler = RssSampler()

    class CpuTimer(TrainerCallback):
        """CPU seconds of this process per step (all threads): not inflated by waiting for a core."""

        def __init__(self) -> None:
            self.cpu: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self._t = time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            self.cpu.append(time.process_time() - self._t)

    cpu_timer = CpuTimer()

    class StartSampling(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            # Safetensors weights are memory-mapped: touch them so their pages are resident
            # before sampling starts, and the growth measured is the training working set.
            for model in (trainer.model, trainer.ref_model):
                for t in [] if model is None else [*model.parameters(), *model.buffers()]:
                    t.detach().float().sum()
            sampler.start()

    timer = step_timer()
    trainer, data, plan, model_path = build_dpo_trainer(cfg, callbacks=[timer, cpu_timer, StartSampling()])
    static = tensor_mb(trainer.model) + tensor_mb(trainer.ref_model)
    trainer.train()
    peak = sampler.stop()
    est = {k: v * 1024 for k, v in estimate_memory(cfg, device="cpu").components_gb.items()}
    est_static = est["weights"] + est["reference_model"] + est["lora_params"]
    print(json.dumps({
        "static_mb": static, "dynamic_mb": (peak - sampler.start_rss) / 2**20,
        "rss_start_mb": sampler.start_rss / 2**20, "rss_peak_mb": peak / 2**20,
        "est_static_mb": est_static, "est_dynamic_mb": sum(est.values()) - est_static - est["overhead"],
        "est_components_mb": est, "mean_step_s": timer.mean(), "steps": len(timer.durations),
        "median_step_s": statistics.median(timer.durations[1:] or timer.durations),
        "min_step_s": min(timer.durations[1:] or timer.durations),
        "median_step_cpu_s": statistics.median(cpu_timer.cpu[1:] or cpu_timer.cpu),
        "linear4bit": count_linear4bit(trainer.model), "ref_model_loaded": trainer.ref_model is not None,
        "torch_threads": torch.get_num_threads(),
    }))


def run_child(cfg: dict, env: dict, name: str, steps: int) -> dict:
    """One variant in a fresh process; its JSON line."""
    cfg = {**cfg, "dpo": {**cfg["dpo"], "max_steps": steps}}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{\"static_mb\"")]
    if proc.returncode or not lines:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="steps of the timing run (the memory run does 3)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "train.json")
    parser.add_argument("--work", type=Path, default=Path("/tmp/prefjudge-bench-train"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    from prefjudge.train.tiny_model import build_tiny_model

    args.work.mkdir(parents=True, exist_ok=True)
    model = str(build_tiny_model(args.work / "bench-model", size="bench"))
    data = args.work / "pref.jsonl"
    make_data(model, data, n_rows=args.batch * (args.steps + 1), max_length=args.max_length)
    results = []
    for v in VARIANTS:
        cfg = config(v, model, data, args.work / "runs" / v["name"].replace(" / ", "-").replace(" ", "_"), args)
        memory = run_child(cfg, {**os.environ, **CHILD_ENV}, v["name"], steps=3)
        timing = run_child(cfg, {**os.environ, "TQDM_DISABLE": "1"}, v["name"], steps=args.steps)
        keys = ("mean_step_s", "median_step_s", "min_step_s", "median_step_cpu_s", "steps")
        results.append({**v, **memory, **{k: timing[k] for k in keys}})
        print(f"{v['name']:<30} done", file=sys.stderr)
    meta = {"model": model, "n_parameters": json.loads(Path(model, "prefjudge_tiny_model.json").read_text())["n_parameters"],
            "steps": args.steps, "batch": args.batch, "max_length": args.max_length, "cpu_count": os.cpu_count(),
            "command": " ".join(["python", "bench/bench_train.py", *sys.argv[1:]])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(table(results, meta))


def table(results: list[dict], meta: dict) -> str:
    head = (f"model: {meta['n_parameters'] / 1e6:.1f}M parameters, batch {meta['batch']} x max_length "
            f"{meta['max_length']} (x2: chosen and rejected), memory over 3 steps, time over {meta['steps']} "
            f"steps (first excluded), CPU ({meta['cpu_count']} cores)\n\n"
            "| configuration | 4-bit layers | weights + adapter, measured (MB) | estimate (MB) "
            "| step working set, measured (MB) | estimate (MB) | peak RSS (MB) | CPU time per step, median (s) "
            "| wall time per step, min (s) |\n|---|---|---|---|---|---|---|---|---|")
    rows = [f"| {r['name']} | {r['linear4bit']} | {r['static_mb']:.1f} | {r['est_static_mb']:.1f} | "
            f"{r['dynamic_mb']:.0f} | {r['est_dynamic_mb']:.0f} | {r['rss_peak_mb']:.0f} | "
            f"{r['median_step_cpu_s']:.2f} | {r['min_step_s']:.2f} |"
            for r in results]
    return "\n".join([head, *rows])


if __name__ == "__main__":
    main()
