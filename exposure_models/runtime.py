"""Device choice and mixed precision, shared by training, evaluation and enhancement."""

from __future__ import annotations

import torch

from exposure_core.errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks cuda > mps > cpu; any other name is used as given (``"cuda:1"``)."""
    if name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {name!r} requested but CUDA is not available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise UserError(f"device {name!r} requested but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """bf16 on GPUs that support it, else fp16 on CUDA; None (full precision) on CPU/MPS."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
