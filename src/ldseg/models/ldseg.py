"""LDSeg: the four networks trained end to end; ``forward`` returns the loss, ``sample`` segments.

Zaman et al., "Latent Diffusion for Medical Image Segmentation: End to end learning for fast
sampling and accuracy", arXiv 2407.12952 (Algorithms 1 and 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss

from ldseg.diffusion import PREDICTION_TYPES, NoiseSchedule, Sampler, make_sampler, reverse_process
from ldseg.diffusion.schedule import Generators, each_generator
from ldseg.models.base import ZERO, Segmenter, TrainingLoss, check_divisible, resolve_latent_factor
from ldseg.nets import ImageEncoder, LabelDecoder, LabelEncoder, LatentDenoiser
from ldseg.nets.blocks import network_strides, standardize

DECODER_INPUTS = ("z_minus_eps", "x0")


class LDSeg(Segmenter):
    """Latent diffusion segmentation model (label/image encoders, latent denoiser, label decoder).

    Zaman et al. 2024 (LDSeg). The keyword defaults are the paper's recipe; ldseg's measured
    default recipe is ``ModelConfig``'s (built by ``ldseg.models.build_model``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        num_classes: classes including background (2 or more).
        channels: encoder widths at full resolution and after each downsampling stage; the
            number of stages is ``len(channels) - 1`` (reference: 16 x (1, 2, 4, 4, 2)).
        latent_factor: downsampling factor per axis, a power of 2 up to ``2**stages``
            (default ``2**stages`` on every axis, 16 for four stages).
        denoiser_channels, denoiser_attention, num_res_blocks: the latent UNet's levels.
        num_heads: attention heads in the image encoder and denoiser.
        dropout: dropout in the encoder and decoder residual blocks.
        schedule: the forward noise schedule.
        gamma: weight of ``1 - Dice`` in the loss; ``lam``: weight of the noise MSE.
        decoder_input: what the decoder sees in training: ``"z_minus_eps"`` is the paper's
            ``z_lt - eps_hat``; ``"x0"`` is the clean-latent estimate
            ``(z_lt - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)``, standardised like ``z_l0``
            (unstandardised it explodes near t = T, where sqrt(abar_t) is about 1e-4), a
            variant to compare.
        restandardize: the default of ``sample``'s ``restandardize``.
        prediction: what the denoiser predicts: ``"eps"`` (the paper), ``"v"`` or ``"x0"``;
            the noise-MSE term is the squared error on that target.
        sampler, sampling_steps: the run's sampler and K, used by the two levers below.
        timestep_share: share of training samples whose t is one of the K sampling timesteps
            (the rest t ~ U{1..T}, the paper's); 2-step sampling runs only at t = T and t = 1.
        sampling_path_share: share of training cases whose decoded mask comes from the run's
            own K-step DDIM run from noise (with gradients through both denoiser calls)
            instead of from a random-t latent; CE + gamma x (1 - Dice) then trains what
            inference computes, at one decoder pass per case as before (0: the paper).
        max_attention_tokens, input_size: the image encoder keeps a self-attention block
            only where an ``input_size`` input leaves at most that many positions (None: all,
            the paper).
        label_latent_channels, image_latent_channels: channels of the shape latent ``z_l``
            and of the image latent ``z_i`` that conditions the denoiser (the paper: 1 each).
        decoder_image_skips: the label decoder also takes the image encoder's stage outputs
            as U-Net skips (the paper: False, the decoder sees the latent alone).
        stem_stride: the encoders start with an average pooling by this on every axis whose
            latent factor allows, so each width works one level lower, as in MONAI's UNet (the
            paper: 1, a full-resolution first block).
        decoder_image_head: with the image skips and a pooling stem, the label decoder's
            full-resolution head also sees the image (``LabelDecoder``'s image head).
    """

    ema_target = "denoiser"  # the submodule whose EMA copy is saved and sampled

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (16, 32, 64, 64, 32),
        latent_factor: Sequence[int] | None = None,
        denoiser_channels: Sequence[int] = (16, 32, 64),
        denoiser_attention: Sequence[bool] = (False, True, True),
        num_res_blocks: int = 2,
        num_heads: int = 4,
        dropout: float = 0.2,
        schedule: NoiseSchedule | None = None,
        gamma: float = 2.0,
        lam: float = 1.0,
        decoder_input: str = "z_minus_eps",
        restandardize: bool = True,
        prediction: str = "eps",
        sampler: str = "ddim",
        sampling_steps: int = 2,
        timestep_share: float = 0.0,
        sampling_path_share: float = 0.0,
        max_attention_tokens: int | None = None,
        input_size: Sequence[int] | None = None,
        label_latent_channels: int = 1,
        image_latent_channels: int = 1,
        decoder_image_skips: bool = False,
        stem_stride: int = 1,
        decoder_image_head: bool = False,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if num_classes < 2:
            raise ValueError(
                f"num_classes must be at least 2 (background + one), got {num_classes}"
            )
        if decoder_input not in DECODER_INPUTS:
            raise ValueError(
                f"decoder_input must be one of {DECODER_INPUTS}, got {decoder_input!r}"
            )
        if prediction not in PREDICTION_TYPES:
            raise ValueError(f"prediction must be one of {PREDICTION_TYPES}, got {prediction!r}")
        if not (0.0 <= timestep_share <= 1.0 and 0.0 <= sampling_path_share <= 1.0):
            raise ValueError("timestep_share and sampling_path_share must lie in [0, 1]")
        num_stages = len(channels) - 1
        factor = resolve_latent_factor(latent_factor, spatial_dims, num_stages)
        if len(factor) != spatial_dims:
            raise ValueError(f"latent_factor {factor} needs {spatial_dims} entries")
        stem, strides = network_strides(factor, num_stages, stem_stride)
        self.spatial_dims = spatial_dims
        self.num_classes = num_classes
        self.latent_factor = factor
        self.gamma, self.lam = gamma, lam
        self.decoder_input = decoder_input
        self.restandardize = restandardize
        self.schedule = schedule or NoiseSchedule()
        self.prediction = prediction
        self.sampler_name = sampler
        self.timestep_share = timestep_share
        self.sampling_path_share = sampling_path_share
        self.train_sampler = self.make_sampler("ddim", sampling_steps)
        self.focus_timesteps = self.make_sampler(sampler, sampling_steps).timesteps.tolist()
        geometry = (channels, strides, dropout)
        self.latent_channels = latents = label_latent_channels
        self.label_encoder = LabelEncoder(spatial_dims, num_classes, *geometry, stem, latents)
        self.image_encoder = ImageEncoder(
            spatial_dims,
            in_channels,
            channels,
            strides,
            num_heads,
            dropout,
            max_attention_tokens,
            input_size,
            image_latent_channels,
            stem,
        )
        self.denoiser = LatentDenoiser(
            spatial_dims,
            denoiser_channels,
            denoiser_attention,
            num_res_blocks,
            num_heads,
            condition_channels=image_latent_channels,
            latent_channels=latents,
        )
        self.label_decoder = LabelDecoder(
            spatial_dims,
            num_classes,
            *geometry,
            decoder_image_skips,
            stem,
            latents,
            in_channels if decoder_image_head else 0,
        )
        self.dice_loss = DiceLoss(to_onehot_y=True, softmax=True)

    def check_size(self, spatial_shape: Sequence[int]) -> None:
        """Raise if a spatial shape does not divide by the latent factor on every axis."""
        check_divisible(spatial_shape, self.latent_factor)

    def noise_shape(self, spatial_shape: Sequence[int]) -> tuple[int, ...]:
        """The latent's shape ``(C_l, *spatial_shape / latent_factor)``: where sampling starts."""
        sizes = (s // f for s, f in zip(spatial_shape, self.latent_factor, strict=True))
        return (self.latent_channels, *sizes)

    def decode(self, states: Sequence[torch.Tensor], image: torch.Tensor) -> list[torch.Tensor]:
        """The label decoder's softmax of each latent of ``image`` (encoded once)."""
        skips = self.encode_image(image)[1]
        return [self.label_decoder(state, skips).softmax(dim=1) for state in states]

    def encode_image(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """The image latent ``z_i`` and, for a decoder with image skips, the encoder's stage
        outputs, after the image itself for an image head (else None)."""
        if not self.label_decoder.image_skips:
            return self.image_encoder(image), None
        z_i, stages = self.image_encoder.features(image)
        return z_i, [image, *stages] if self.label_decoder.head_image else stages

    def make_sampler(self, name: str | None = None, steps: int = 2) -> Sampler:
        """A sampler ("ddim" or "ddpm", default the run's) for this denoiser, K = ``steps``."""
        sampler = make_sampler(name or self.sampler_name, self.schedule, prediction=self.prediction)
        sampler.set_timesteps(steps)
        return sampler

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> TrainingLoss:
        """One training step of Algorithm 1: the end-to-end loss for a batch.

        Args:
            image: ``(B, in_channels, *S)``.
            mask: class indices ``(B, 1, *S)``.
            generator: one for the batch or one per sample (timesteps, noise).
        """
        self.check_size(image.shape[2:])
        z_i, skips = self.encode_image(image)
        z0 = self.label_encoder(mask)
        t, noise = self.schedule.training_noise(
            z0, generator, self.focus_timesteps, self.timestep_share
        )
        z_t = self.schedule.add_noise(z0, noise, t)
        output = self.denoiser(z_t, z_i, t)
        x0_hat, eps_hat = self.schedule.split_prediction(output, z_t, t, self.prediction)
        z_dn = z_t - eps_hat if self.decoder_input == "z_minus_eps" else standardize(x0_hat)
        on_path = self._path_cases(generator, z_i)
        if len(on_path):  # these cases are decoded from the K-step sampling path instead
            z_T = torch.cat([self._noise_like(z0[i : i + 1], g) for i, g in on_path.items()])
            index = torch.tensor(list(on_path), device=z_i.device)
            z_dn = z_dn.index_copy(0, index, self.reverse(z_i[index], z_T, self.train_sampler))
        logits = self.label_decoder(z_dn, skips)
        ce, dice = self.segmentation_loss(logits, mask)
        target = self.schedule.prediction_target(z0, noise, t, self.prediction)
        noise_mse = F.mse_loss(output, target)
        total = ce + self.gamma * dice + self.lam * noise_mse
        path = ZERO.to(total.device)
        if len(on_path):  # for the record: the segmentation loss of the path-decoded cases
            path_ce, path_dice = self.segmentation_loss(logits[index], mask[index])
            path = (path_ce + self.gamma * path_dice).detach()
        return TrainingLoss(total, ce, dice, noise_mse, path)

    def segmentation_loss(
        self, logits: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy and 1 - soft Dice of decoded logits against class indices."""
        return F.cross_entropy(logits, mask[:, 0].long()), self.dice_loss(logits, mask)

    def _path_cases(
        self, generator: Generators, like: torch.Tensor
    ) -> dict[int, torch.Generator | None]:
        """The cases of a batch (index: generator) that go through the sampling path: each
        with probability ``sampling_path_share``, drawn from its own generator."""
        if self.sampling_path_share == 0:
            return {}
        chosen = {}
        for i, g in each_generator(generator, like.shape[0]):
            if float(torch.rand(1, generator=g, device=like.device)) < self.sampling_path_share:
                chosen[i] = g
        return chosen

    @staticmethod
    def _noise_like(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    def reverse(
        self,
        z_i: torch.Tensor,
        z: torch.Tensor,
        sampler: Sampler,
        generator: torch.Generator | None = None,
        restandardize: bool | None = None,
        trajectory: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The latent after the reverse process from ``z`` conditioned on the image latent."""
        if sampler.prediction != self.prediction:
            raise ValueError(
                f"sampler expects {sampler.prediction!r} outputs, the denoiser predicts "
                f"{self.prediction!r}; build it with model.make_sampler"
            )
        if restandardize is None:
            restandardize = self.restandardize
        return reverse_process(
            lambda z_t, t: self.denoiser(z_t, z_i, t),
            z,
            sampler,
            generator,
            standardize if restandardize else None,
            trajectory,
        )

    @torch.no_grad()
    def sample(
        self,
        image: torch.Tensor,
        sampler: Sampler,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        restandardize: bool | None = None,
        trajectory: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Algorithm 2: segment ``image`` and return class probabilities ``(B, C, *S)``.

        Args:
            image: ``(B, in_channels, *S)``.
            sampler: from ``make_sampler`` (a DDIM or DDPM sampler with its timesteps set).
            generator: random source of the initial latent (and DDPM noise).
            noise: an explicit initial latent instead of drawing one.
            restandardize: give the latent mean 0 and std 1 after every step, as the reference
                does (default: the model's ``restandardize``).
            trajectory: if given, the latent after every step is appended to it.
        """
        self.check_size(image.shape[2:])
        z_i, skips = self.encode_image(image)
        shape = (image.shape[0], *self.noise_shape(image.shape[2:]))
        z = noise if noise is not None else self._noise_like(z_i.new_empty(shape), generator)
        z = self.reverse(z_i, z, sampler, generator, restandardize, trajectory)
        return self.label_decoder(z, skips).softmax(dim=1)
