"""Data-parallel training under ``torchrun``: process group, DDP wrapper, rank helpers.

``torchrun --nproc_per_node N -m flowinpaint train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`setup` then joins the process group (``nccl`` on CUDA, ``gloo`` on CPU).
Each rank processes its share of every step's global batch (see
:class:`~flowinpaint.train.data.StepBatchSampler`), DDP averages the gradients, and only rank 0
writes checkpoints and logs. Without those variables (or with ``WORLD_SIZE=1``) everything runs
in the one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["DistContext", "any_flag", "barrier", "cleanup", "setup", "unwrap", "wrap"]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world`` processes, its ``device``, and whether a
    process group is in use (``enabled``)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _device(choice: str, local_rank: int) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available")
    if choice == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))


def setup(device: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun (``RANK``/``WORLD_SIZE`` set, world > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if "RANK" not in os.environ or world <= 1:
        return DistContext(device=_device(device, 0))
    import torch.distributed as dist

    if not dist.is_available():
        raise ValueError("launched with WORLD_SIZE > 1 but torch.distributed is not available")
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    where = _device(device, local_rank)
    if where.type == "cuda":
        torch.cuda.set_device(where)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if where.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistContext(rank=rank, world=world, local_rank=local_rank, device=where, enabled=True)


def wrap(model: nn.Module, context: DistContext) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` when distributed."""
    if not context.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or ``model`` itself)."""
    return getattr(model, "module", model)


def any_flag(flag: bool, context: DistContext) -> bool:
    """True on every rank when ``flag`` is True on any (so all ranks stop at the same step)."""
    if not context.enabled:
        return flag
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def barrier(context: DistContext) -> None:
    if context.enabled:
        import torch.distributed as dist

        dist.barrier()


def cleanup(context: DistContext) -> None:
    """Leave the process group (if this module joined one)."""
    if context.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
