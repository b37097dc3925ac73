"""The explicit diffusion core: pure, batched, differentiable torch on ``(B, C, H, W)``."""

from .pyramid import (
    auto_levels,
    coarse_to_fine,
    downsample_image,
    downsample_sparse,
    pull_push_fill,
    sparse_pyramid,
    upsample_to,
)
from .solver import (
    ConvergenceInfo,
    explicit_step,
    fsi_cycle,
    fsi_weights,
    pixel_time_step,
    safe_time_step,
    solve_to_convergence,
    www_time_step,
)
from .stencil import (
    Stencil,
    apply_stencil,
    centre_weight,
    default_beta,
    nonnegative_alpha_bounds,
    www_stencil,
)
from .tensor import (
    DiffusionTensor,
    largest_eigenvalue,
    pixels_to_cells,
    tensor_from_eigen,
)

__all__ = [
    "ConvergenceInfo",
    "DiffusionTensor",
    "Stencil",
    "apply_stencil",
    "auto_levels",
    "centre_weight",
    "coarse_to_fine",
    "default_beta",
    "downsample_image",
    "downsample_sparse",
    "explicit_step",
    "fsi_cycle",
    "fsi_weights",
    "largest_eigenvalue",
    "nonnegative_alpha_bounds",
    "pixel_time_step",
    "pixels_to_cells",
    "pull_push_fill",
    "safe_time_step",
    "solve_to_convergence",
    "sparse_pyramid",
    "tensor_from_eigen",
    "upsample_to",
    "www_stencil",
    "www_time_step",
]
