"""What a training step minimises, per model kind: the EPE (``neuroexplicit``, optionally after a
warm start by distillation from EED), the multi-scale EPE (``flownets``), WGAN-GP plus EPE
(``wgain``) or the denoising loss (``pd``).

Warm start (``teacher = "eed"``, the first ``teacher_steps`` steps): the DTM's per-level tensors
and stencil parameters are regressed onto those of edge-enhancing diffusion (the project's tuned
``eed`` method: structure-tensor eigenvectors, Perona-Malik eigenvalue across edges, the per-cell
non-negative alpha) on the same pyramid. It needs no diffusion, so a step is cheaper than an
EPE step. Why try it: EED's tensors with the model's fixed step budget (5, 15, 30, 45 FSI steps)
already reach 0.461 / 0.188 / 0.130 px on the synthetic val split at 1 / 5 / 10 %, against
0.446 / 0.187 / 0.129 for EED run to convergence, so the step budget is not what holds an
untrained model back. What was measured (width 16, 256x256, batch 8, lr 3e-4): after 200
distillation steps the distillation loss had only fallen from 0.42 to 0.38 and the val EPE was
0.71 / 0.32 / 0.22 px, worse than 200 EPE steps from the homogeneous start (0.61 / 0.27 / 0.19):
EED's per-pixel orientations on textures (contrast 0.01) are hard to regress. The shipped model
is therefore trained on the EPE from the start; the option stays for longer or other warm starts.

Both losses run through one module so that DDP (which must see the forward) wraps it once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..diffusion import downsample_image
from ..methods.eed import EEDOptions, eed_field
from ..methods.explicit import stencil_alpha
from ..models import (
    FlowNetSInpainting,
    NeuroexplicitInpainting,
    PDInpainting,
    WGAINInpainting,
)
from ..models.flownets import MULTIPLE
from ..models.kinds import kind_of
from ..models.parametrisation import LevelDiffusion
from ..ops import channel_norm

__all__ = [
    "TEACHERS",
    "TrainingObjective",
    "denoising_loss",
    "distillation_loss",
    "epe_loss",
    "multiscale_epe_loss",
    "teacher_levels",
    "wgain_loss",
]

TEACHERS = ("", "eed")


def epe_loss(prediction: Tensor, truth: Tensor, valid: Tensor) -> Tensor:
    """The end-point error averaged over the valid pixels (``(B,2,H,W)``, ``(B,2,H,W)``, ``(B,1,H,W)`` bool)."""
    error = channel_norm(prediction - truth)
    weight = valid.to(error.dtype)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


def teacher_levels(image: Tensor, levels: int) -> list[LevelDiffusion]:
    """EED's tensors and per-cell alpha on the model's pyramid, coarse to fine (no gradient).

    Shape:
        image: ``(B, 3, H, W)``; level ``l`` (0 = finest) like
        :meth:`NeuroexplicitInpainting.diffusion_levels`.
    """
    options = EEDOptions()
    with torch.no_grad():
        guides = [image]
        for _ in range(levels - 1):
            guides.append(downsample_image(guides[-1]))
        result = []
        for guide in reversed(guides):
            cells = eed_field(guide, options)
            result.append(LevelDiffusion(cells, stencil_alpha(cells, None)))
    return result


def distillation_loss(student: list[LevelDiffusion], teacher: list[LevelDiffusion]) -> Tensor:
    """Mean over levels of the squared Frobenius distance of the tensors plus that of alpha."""
    total = torch.zeros((), dtype=student[0].alpha.dtype, device=student[0].alpha.device)
    for mine, theirs in zip(student, teacher):
        (a, b, c), (ta, tb, tc) = mine.tensor, theirs.tensor
        frobenius = (a - ta) ** 2 + 2 * (b - tb) ** 2 + (c - tc) ** 2
        total = total + frobenius.mean() + ((mine.alpha - theirs.alpha) ** 2).mean()
    return total / len(student)


def downsample_truth(truth: Tensor, valid: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The ground truth averaged over its valid pixels onto ``size`` after padding to a multiple of 64.

    Shape:
        truth ``(B, 2, H, W)``, valid ``(B, 1, H, W)`` -> ``(B, 2, h, w)`` and bool ``(B, 1, h, w)``.
    """
    height, width = truth.shape[-2:]
    pad = (0, -width % MULTIPLE, 0, -height % MULTIPLE)
    weight = F.pad(valid.to(truth.dtype), pad)
    factor = (height + pad[3]) // size[0]
    total = F.avg_pool2d(F.pad(truth, pad) * weight, factor)
    count = F.avg_pool2d(weight, factor)
    return total / count.clamp_min(1e-12), count > 0


def multiscale_epe_loss(model: FlowNetSInpainting, batch: dict[str, Tensor]) -> Tensor:
    """EPE of the full-resolution output plus the weighted EPEs of the coarse predictions."""
    predictions = model.predictions(batch["image"], batch["flow"], batch["known"])
    dense = model.dense(predictions[-1], batch["flow"], batch["known"])
    loss = epe_loss(dense, batch["truth"], batch["valid"])
    for weight, prediction in zip(model.config.loss_weights, reversed(predictions)):
        truth, valid = downsample_truth(batch["truth"], batch["valid"], tuple(prediction.shape[-2:]))
        loss = loss + weight * epe_loss(prediction, truth, valid)
    return loss


def gradient_penalty(critic: nn.Module, image: Tensor, real: Tensor, fake: Tensor, known: Tensor) -> Tensor:
    """WGAN-GP's ``mean (|grad critic(x)| - 1)^2`` at random interpolates of real and fake flows."""
    weight = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (weight * real + (1 - weight) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(image, mixed, known).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def wgain_loss(model: WGAINInpainting, batch: dict[str, Tensor]) -> Tensor:
    """Critic and generator losses of one simultaneous WGAN-GP step, as one scalar.

    ``critic(fake) - critic(real) + lambda GP`` reaches only the critic (the fake is detached);
    ``-w critic(fake) + EPE / flow_scale`` reaches only the generator (the critic's parameters
    are detached in that term), so one backward and one Adam step update both players. Invalid
    ground-truth pixels are filled with the fake so the critic cannot tell them apart.
    """
    config = model.config
    image = model.normalise(batch["image"])
    fake = model.generate(batch["image"], batch["flow"], batch["known"])
    real = torch.where(batch["valid"], batch["truth"] / config.flow_scale, fake.detach())
    critic = model.critic
    critic_loss = critic(image, fake.detach(), batch["known"]).mean() - critic(image, real, batch["known"]).mean()
    critic_loss = critic_loss + config.gradient_penalty * gradient_penalty(critic, image, real, fake.detach(), batch["known"])
    frozen = {name: parameter.detach() for name, parameter in critic.named_parameters()}
    adversarial = -functional_call(critic, frozen, (image, fake, batch["known"])).mean()
    epe = epe_loss(fake, batch["truth"] / config.flow_scale, batch["valid"])
    return critic_loss + config.adversarial_weight * adversarial + epe


def denoising_loss(model: PDInpainting, batch: dict[str, Tensor]) -> Tensor:
    """The velocity-prediction MSE at a random time per sample, over the valid pixels (the data
    is the scaled flow minus the model's start: zeros, or the pull-push fill)."""
    condition, _, start = model.inputs(batch["image"], batch["flow"], batch["known"])
    clean = (batch["truth"] / model.config.flow_scale - start).masked_fill(~batch["valid"], 0.0)
    t = torch.randint(0, model.config.timesteps, (clean.shape[0],), device=clean.device)
    abar = model.abar[t].view(-1, 1, 1, 1)
    noise = torch.randn_like(clean)
    noisy = abar.sqrt() * clean + (1 - abar).sqrt() * noise
    velocity = abar.sqrt() * noise - (1 - abar).sqrt() * clean
    error = ((model.predict_velocity(noisy, t, condition) - velocity) ** 2).sum(dim=1, keepdim=True)
    weight = batch["valid"].to(error.dtype)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


LOSSES = {"flownets": multiscale_epe_loss, "wgain": wgain_loss, "pd": denoising_loss}


class TrainingObjective(nn.Module):
    """The loss of one batch: distillation from the teacher, or the EPE of the dense flow."""

    def __init__(self, model: nn.Module, teacher: str = ""):
        super().__init__()
        if teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {teacher!r}")
        if teacher and not isinstance(model, NeuroexplicitInpainting):
            raise ValueError("a teacher warm start needs the neuroexplicit model")
        self.model = model
        self.teacher = teacher
        self.kind = kind_of(model)

    def forward(self, batch: dict[str, Tensor], distill: bool) -> Tensor:
        if distill:
            levels = len(self.model.config.level_steps)
            return distillation_loss(self.model.diffusion_levels(batch["image"]), teacher_levels(batch["image"], levels))
        if self.kind in LOSSES:
            return LOSSES[self.kind](self.model, batch)
        prediction = self.model(batch["image"], batch["flow"], batch["known"])
        return epe_loss(prediction, batch["truth"], batch["valid"])
