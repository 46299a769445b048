"""Several processes (``accelerate launch`` or ``torchrun``): who does what, and when the others wait.

Every process of a launch runs the same command. Training runs on all of them (DDP, FSDP or
DeepSpeed ZeRO through TRL's trainers, which shard the data and the model); everything else runs
once, on the main process (global rank 0): building a tiny model, reading and formatting the
data first (the others then read the cache), saving the tokenizer, writing cards, merging,
curating, evaluating and writing ``run.json``. The others wait at a barrier and receive the main
process's result (:func:`on_main`), so every process goes on with the same paths.

A single process (no ``WORLD_SIZE`` above 1 in the environment) skips all of this: the helpers
below are then no-ops and nothing imports torch.

The process group is the one accelerate's ``PartialState`` opens (gloo on CPU, nccl on GPU), the
one the trainer then reuses; when something else opened it already, it is used as it is. The
barrier timeout is ``PREFJUDGE_DIST_TIMEOUT_MINUTES`` (default 360): the other processes wait
while the main one merges or evaluates a 7B model, which can take longer than torch's 10-30
minute defaults.

In a single process :func:`on_main` simply calls the function:

>>> on_main(lambda: "ran here")
'ran here'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

from prefjudge.errors import PrefjudgeError

T = TypeVar("T")
LaunchMode = Literal["single", "ddp", "fsdp", "deepspeed"]


class OtherRankError(PrefjudgeError):
    """The main process failed in a step the other processes were waiting for."""


def _env_int(*names: str, default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                continue
    return default


def world_size() -> int:
    """Processes in the launch (``WORLD_SIZE``; 1 when not launched by torchrun/accelerate)."""
    return _env_int("WORLD_SIZE", default=1)


def is_distributed() -> bool:
    return world_size() > 1


def rank() -> int:
    """This process's global rank (0 is the main process)."""
    return _env_int("RANK", default=0)


def local_rank() -> int:
    """This process's rank on its machine: the GPU it trains on."""
    return _env_int("LOCAL_RANK", default=0)


def is_main() -> bool:
    return rank() == 0


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() in ("1", "true", "yes")


def launch_mode() -> LaunchMode:
    """How the processes share the work: ``fsdp`` / ``deepspeed`` when ``accelerate launch`` says so
    (``ACCELERATE_USE_FSDP`` / ``ACCELERATE_USE_DEEPSPEED``), ``ddp`` for any other multi-process
    launch, ``single`` otherwise."""
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        return "deepspeed"
    if _flag("ACCELERATE_USE_FSDP"):
        return "fsdp"
    return "ddp" if is_distributed() else "single"


def _cpu_only() -> bool:
    if _flag("ACCELERATE_USE_CPU"):
        return True
    import torch

    return not torch.cuda.is_available()


def ensure_group() -> None:
    """Open the process group (through accelerate's ``PartialState``, as the trainer will) unless
    it is open or this is a single process."""
    if not is_distributed():
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return
    from datetime import timedelta

    from accelerate import PartialState

    minutes = _env_int("PREFJUDGE_DIST_TIMEOUT_MINUTES", default=360)
    PartialState(cpu=_cpu_only(), timeout=timedelta(minutes=minutes))


def finish() -> None:
    """Wait for every process, then close the process group, so no process exits while another
    still talks to it (gloo aborts a process that exits with the group open: "terminate called
    without an active exception"). Nothing for a single process; the next step reopens it."""
    if not is_distributed():
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        from accelerate import PartialState

        state = PartialState()
        if hasattr(state, "destroy_process_group"):  # accelerate's own, so its state knows the group is gone
            state.destroy_process_group()
        else:
            dist.destroy_process_group()


def _device():
    """The device collective objects travel through (nccl needs this process's GPU)."""
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", local_rank())
    return None


def barrier() -> None:
    """Wait until every process gets here (nothing for a single process)."""
    if not is_distributed():
        return
    ensure_group()
    import torch.distributed as dist

    dist.barrier()


def broadcast(value: T) -> T:
    """The main process's ``value`` on every process (picklable values)."""
    if not is_distributed():
        return value
    ensure_group()
    import torch.distributed as dist

    box = [value if is_main() else None]
    dist.broadcast_object_list(box, src=0, device=_device())
    return box[0]  # type: ignore[return-value]


def gather(value: Any) -> list[Any]:
    """Every process's ``value``, by rank (``[value]`` for a single process)."""
    if not is_distributed():
        return [value]
    ensure_group()
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def on_main(fn: Callable[[], T], what: str = "step") -> T:
    """Run ``fn`` on the main process only; the others wait and get its result. A failure on the
    main process is raised there and, as ``OtherRankError`` naming ``what``, on the others (so
    none of them waits forever)."""
    if not is_distributed():
        return fn()
    result: Any = None
    error: str | None = None
    if is_main():
        try:
            result = fn()
        except BaseException as err:
            error = f"{type(err).__name__}: {err}"
            broadcast(("error", error))
            raise
        return broadcast(("ok", result))[1]
    status, payload = broadcast(None)
    if status == "error":
        raise OtherRankError(f"the main process failed in {what}: {payload}")
    return payload


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """The main process runs the block first (it builds or downloads what the block needs), then
    the others run it (and find it done)."""
    if not is_distributed():
        yield
        return
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def describe() -> dict[str, Any]:
    """``{world_size, rank, local_rank, mode, backend}`` of this process (for run records)."""
    info: dict[str, Any] = {"world_size": world_size(), "rank": rank(), "local_rank": local_rank(),
                            "mode": launch_mode(), "backend": None}
    if is_distributed():
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            info["backend"] = str(dist.get_backend())
    return info
