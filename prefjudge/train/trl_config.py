"""TRL's own flat YAML (``trl dpo --config config.yaml``) as a training config, and overrides of any field.

A TRL user's file has one flat level of keys from TRL's ``ScriptArguments`` (``dataset_name``...),
``ModelConfig`` (``model_name_or_path``, ``lora_r``, ``load_in_4bit``...) and ``DPOConfig``
(``learning_rate``, ``beta``, ``max_length``... and every ``TrainingArguments`` field). A file
without prefjudge's sections (``model:``, ``data:``) that has one of TRL's keys is read as such:
:func:`from_trl` maps each key to its ``TrainConfig`` field; a key prefjudge has no field for goes
to ``DPOConfig`` as it is (``dpo.trl_args``) when the installed TRL's config class has it, and any
other key is an error naming it. Keys TRL leaves at its defaults get TRL's defaults
(``TRL_DEFAULTS``: learning rate 1e-6, linear schedule, batch 8, 3 epochs...; no quantization
unless ``load_in_4bit``), so the same file trains the same way under both tools. What cannot be
carried over (LoRA is always on; ``lora_target_modules`` unset means PEFT's default ``q_proj,
v_proj``) is said in the notes :func:`load_training_config` returns.

Overrides, for either kind of file (:func:`apply_overrides`): ``--set dpo.beta=0.2 --set
lora.r=32`` (a dotted ``TrainConfig`` path, the value read as YAML) and TRL's own flags
``--beta 0.2 --lora_r 32 --load_in_4bit`` (mapped like the file's keys)::

    prefjudge train run trl_dpo.yaml --beta 0.2 --set data.max_rows=1000 --dry-run

>>> nested, notes = from_trl({"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "dataset_name": "trl-lib/x",
...                           "use_peft": True, "lora_r": 32, "beta": 0.2, "load_in_4bit": True})
>>> nested["model"]["name_or_path"], nested["lora"]["r"], nested["dpo"]["beta"], nested["quantization"]["mode"]
('Qwen/Qwen2.5-0.5B-Instruct', 32, 0.2, '4bit')
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from prefjudge.errors import ConfigError

#: Keys that mark a file as TRL's flat YAML (with no ``model:``/``data:`` section).
MARKERS = ("model_name_or_path", "dataset_name", "lora_r", "load_in_4bit", "use_peft")

#: TRL 1.16's defaults where they differ from prefjudge's (DPOConfig, TrainingArguments, ModelConfig).
TRL_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-6, "lr_scheduler_type": "linear", "per_device_train_batch_size": 8,
    "num_train_epochs": 3.0, "logging_steps": 10, "optim": "adamw_torch_fused", "save_strategy": "steps",
    "save_steps": 500, "gradient_checkpointing": True, "lora_alpha": 32, "lora_dropout": 0.05,
    "use_bnb_nested_quant": False,
}  # and dtype float32 (ModelConfig), unless dtype or its old name torch_dtype is given
#: PEFT's LoRA targets for the llama, mistral and qwen2 families when none are given.
PEFT_DEFAULT_TARGETS = ["q_proj", "v_proj"]
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

#: TRL key -> dotted TrainConfig path ("{s}" is the method's section: dpo or sft).
DIRECT: dict[str, str] = {
    "model_name_or_path": "model.name_or_path", "model_revision": "model.revision",
    "trust_remote_code": "model.trust_remote_code", "attn_implementation": "model.attn_implementation",
    "lora_r": "lora.r", "lora_alpha": "lora.alpha", "lora_dropout": "lora.dropout",
    "bnb_4bit_quant_type": "quantization.quant_type", "use_bnb_nested_quant": "quantization.double_quant",
    "dataset_config": "data.hub_config", "dataset_train_split": "data.split",
    "output_dir": "output_dir", "report_to": "report_to", "run_name": "run_name", "project": "project",
    "trackio_space_id": "trackio_space_id", "hub_model_id": "push.hub_model_id", "hub_private_repo": "push.private",
}
#: Fields of prefjudge's dpo/sft section that carry TRL's name.
SETTINGS = (
    "learning_rate", "lr_scheduler_type", "num_train_epochs", "per_device_train_batch_size",
    "per_device_eval_batch_size", "gradient_accumulation_steps", "max_length", "max_prompt_length", "optim",
    "warmup_steps", "warmup_ratio", "weight_decay", "gradient_checkpointing", "logging_steps", "eval_strategy",
    "eval_steps", "save_strategy", "save_steps", "seed",
)
DPO_SETTINGS = ("beta", "loss_type", "loss_weights", "label_smoothing", "precompute_ref_log_probs")
SFT_SETTINGS = ("packing", "completion_only_loss")
#: Keys whose TRL default is the only value prefjudge runs: anything else is refused with the reason.
ONLY: dict[str, tuple[Any, str]] = {
    "use_rslora": (False, "prefjudge trains plain LoRA adapters"),
    "use_dora": (False, "prefjudge trains plain LoRA adapters"),
    "load_in_8bit": (False, "prefjudge loads 4-bit (load_in_4bit) or 16/32-bit bases"),
    "lora_task_type": ("CAUSAL_LM", "prefjudge trains causal language models"),
    "lora_modules_to_save": (None, "prefjudge saves the LoRA weights only"),
    "lora_target_parameters": (None, "prefjudge targets modules (lora_target_modules)"),
    "dataset_streaming": (False, "prefjudge reads the dataset into memory (use data.max_rows to cap it)"),
    "ignore_bias_buffers": (False, "not needed: prefjudge's DDP runs find no unused parameters"),
    "datasets": (None, "dataset mixtures are not supported: name one dataset_name"),
    "bnb_4bit_quant_storage": (None, "prefjudge sets it itself under FSDP and DeepSpeed"),
}


def is_trl_flat(data: dict[str, Any]) -> bool:
    """A mapping in TRL's flat layout rather than prefjudge's sections."""
    return not ({"model", "data"} & set(data)) and any(k in data for k in MARKERS)


@functools.lru_cache(maxsize=2)
def trl_fields(method: str) -> frozenset[str]:
    """The fields of the installed TRL's ``DPOConfig`` (or ``SFTConfig``), which include every
    ``TrainingArguments`` field."""
    import dataclasses

    try:
        if method == "sft":
            from trl import SFTConfig as config_class
        else:
            from trl import DPOConfig as config_class
    except ImportError as err:  # a light install: no TRL to pass unknown keys to
        raise ConfigError(f"TRL is not installed, so keys prefjudge does not map cannot be checked ({err})") from None
    return frozenset(f.name for f in dataclasses.fields(config_class))


def _set(nested: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = nested
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def _local_or_hub(name: str, base_dir: Path | None) -> tuple[str, str]:
    """``("path", ...)`` for a local file or folder (the current directory first, as TRL reads it, then
    the config's folder), else ``("hub_id", name)``."""
    for root in (Path.cwd(), base_dir):
        if root is None:
            continue
        candidate = Path(name).expanduser()
        candidate = candidate if candidate.is_absolute() else root / candidate
        if candidate.exists():
            return "path", str(candidate.resolve())
    return "hub_id", name


def _targets(value: Any, notes: list[str]) -> list[str]:
    if value is None:
        notes.append(f"lora_target_modules not set: PEFT's default for Llama/Mistral/Qwen2 models, "
                     f"{', '.join(PEFT_DEFAULT_TARGETS)} (as TRL leaves it to PEFT)")
        return list(PEFT_DEFAULT_TARGETS)
    if value == "all-linear" or value == ["all-linear"]:
        notes.append("lora_target_modules: all-linear = the 7 projections " + ", ".join(PROJECTIONS))
        return list(PROJECTIONS)
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def from_trl(flat: dict[str, Any], *, method: str = "dpo", base_dir: Path | None = None,
             defaults: bool = True) -> tuple[dict[str, Any], list[str]]:
    """The nested ``TrainConfig`` mapping of TRL's flat keys, and notes on what was carried over how.

    ``defaults``: fill in TRL's defaults (a whole file); False maps only the given keys (overrides).
    Raises ``ConfigError`` naming a key prefjudge cannot run or TRL does not have.
    """
    section = "sft" if method == "sft" else "dpo"
    settings = SETTINGS + (SFT_SETTINGS if section == "sft" else DPO_SETTINGS)
    given = dict(flat)
    notes: list[str] = []
    nested: dict[str, Any] = {}
    if defaults:
        for key, value in TRL_DEFAULTS.items():
            given.setdefault(key, value)
        if "dtype" not in flat and "torch_dtype" not in flat:
            given["dtype"] = "float32"  # TRL's ModelConfig default (also the 4-bit compute dtype)
        if "use_peft" not in flat:
            notes.append("use_peft not set: prefjudge always trains a LoRA adapter (TRL would fine-tune the whole model)")
        _set(nested, "quantization.mode", "none")
        _set(nested, "data.too_long", "truncate")  # TRL truncates at max_length
        _set(nested, "data.format", "auto")
        if "lora_target_modules" not in flat:
            _set(nested, "lora.target_modules", _targets(None, notes))
    trl_args: dict[str, Any] = {}
    for key, value in given.items():
        if key in ONLY:
            allowed, why = ONLY[key]
            if value != allowed and not (allowed is None and value in ([], {}, "")):
                raise ConfigError(f"TRL key {key!r}: {value!r} is not supported: {why}")
        elif key == "use_peft":
            if value is False:
                raise ConfigError("TRL key 'use_peft': false (a full fine-tune) is not supported: prefjudge trains "
                                  "LoRA adapters; set use_peft: true")
        elif key == "load_in_4bit":
            _set(nested, "quantization.mode", "4bit" if value else "none")
        elif key in ("dtype", "torch_dtype"):
            _set(nested, "model.dtype", value or "auto")
            if value in ("float16", "bfloat16", "float32"):
                _set(nested, "quantization.compute_dtype", value)
        elif key == "lora_target_modules":
            _set(nested, "lora.target_modules", _targets(value, notes))
        elif key == "dataset_name":
            where, name = _local_or_hub(str(value), base_dir)
            _set(nested, f"data.{where}", name)
        elif key == "dataset_test_split":
            if given.get("eval_strategy", "no") not in ("no", None):
                raise ConfigError("TRL key 'dataset_test_split': prefjudge evaluates on a held-out share of the train "
                                  "split; use --set data.test_size=0.05 instead")
        elif key in ("bf16", "fp16"):
            if value:
                _set(nested, f"{section}.precision", key)
            elif not (given.get("bf16") or given.get("fp16")):
                _set(nested, f"{section}.precision", "fp32")
        elif key == "use_cpu":
            _set(nested, "device", "cpu" if value else "auto")
        elif key == "max_steps":
            _set(nested, f"{section}.max_steps", None if value in (None, -1) else value)
        elif key == "loss_type" and section == "dpo":
            _set(nested, "dpo.loss_type", [value] if isinstance(value, str) else list(value))
        elif key == "truncation_mode":
            _set(nested, "data.too_long", "truncate")
            trl_args[key] = value
        elif key == "push_to_hub":
            _set(nested, "push.push_adapter", bool(value))
        elif key in DIRECT:
            _set(nested, DIRECT[key], value)
        elif key in settings:
            _set(nested, f"{section}.{key}", value)
        elif key in trl_fields(section):
            trl_args[key] = value
        else:
            raise ConfigError(f"TRL key {key!r} is not a field of TRL's {'SFT' if section == 'sft' else 'DPO'}Config, "
                              "ScriptArguments or ModelConfig in the installed TRL, nor a prefjudge setting")
    if trl_args:
        _set(nested, f"{section}.trl_args", trl_args)
        notes.append(f"passed to TRL's {section.upper()}Config as given: {', '.join(sorted(trl_args))}")
    return nested, notes


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_sets(sets: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["dpo.beta=0.2", "lora.target_modules=[q_proj, v_proj]"]`` -> a nested mapping (values read as YAML).

    >>> parse_sets(["dpo.beta=0.2", "lora.r=32", "data.path=d.jsonl"])
    {'dpo': {'beta': 0.2}, 'lora': {'r': 32}, 'data': {'path': 'd.jsonl'}}
    """
    nested: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: want FIELD=VALUE with a dotted field, e.g. --set dpo.beta=0.2")
        _set(nested, key.strip(), _parse_value(value))
    return nested


def parse_flags(args: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """TRL-style command-line flags as flat keys: ``--beta 0.2``, ``--beta=0.2``, ``--use_peft`` (true),
    ``--no_remove_unused_columns`` (false), ``--lora_target_modules q_proj v_proj`` (a list).

    >>> parse_flags(["--beta", "0.2", "--use_peft", "--lora_target_modules", "q_proj", "v_proj", "--no_packing"])
    {'beta': 0.2, 'use_peft': True, 'lora_target_modules': ['q_proj', 'v_proj'], 'packing': False}
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) == 2:
            raise ConfigError(f"unexpected argument {token!r}: TRL-style flags look like --beta 0.2")
        name, sep, inline = token[2:].partition("=")
        name = name.replace("-", "_")
        i += 1
        if sep:
            out[name] = _parse_value(inline)
            continue
        values = []
        while i < len(args) and not args[i].startswith("--"):
            values.append(args[i])
            i += 1
        if not values:
            if name.startswith("no_"):
                out[name[3:]] = False
            else:
                out[name] = True
        else:
            out[name] = _parse_value(values[0]) if len(values) == 1 else [_parse_value(v) for v in values]
    return out


def apply_overrides(data: dict[str, Any], *, sets: list[str] | tuple[str, ...] = (), flags: dict[str, Any] | None = None,
                    method: str = "dpo", base_dir: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """A nested config mapping from ``data`` (prefjudge's layout, or TRL's flat one: mapped), TRL-style
    ``flags`` (applied to the flat keys, or mapped and merged into prefjudge's sections) and
    ``--set`` items (dotted ``TrainConfig`` paths), in that order; and the mapping's notes."""
    flags = dict(flags or {})
    notes: list[str] = []
    if is_trl_flat(data):
        nested, notes = from_trl({**data, **flags}, method=method, base_dir=base_dir)
    else:
        nested = copy.deepcopy(data)
        if flags:
            mapped, notes = from_trl(flags, method=method, base_dir=base_dir, defaults=False)
            nested = merge(nested, mapped)
    return merge(nested, parse_sets(sets)), notes


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base`` (mappings merge key by key; a ``null`` value deletes).

    >>> merge({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}})
    {'a': {'x': 1, 'z': 3}}
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_training_config(path: str | Path, *, sets: list[str] | tuple[str, ...] = (), flags: dict[str, Any] | None = None,
                         method: str = "dpo"):
    """``(TrainConfig, notes)`` from a YAML file in prefjudge's layout or TRL's flat one, with overrides."""
    from prefjudge.train.config import config_from_dict, read_yaml

    path = Path(path)
    nested, notes = apply_overrides(read_yaml(path), sets=sets, flags=flags, method=method, base_dir=path.parent)
    return config_from_dict(nested, source=f"training config {path}"), notes
