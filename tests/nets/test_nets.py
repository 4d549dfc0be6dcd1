"""Shapes and invariants of the four LDSeg networks in 2D and 3D."""

import pytest
import torch

from ldseg.nets import ImageEncoder, LabelDecoder, LabelEncoder, LatentDenoiser
from ldseg.nets.blocks import AttentionBlock, network_strides, stage_strides

CHANNELS = (4, 8, 8, 8, 4)


@pytest.mark.parametrize(
    ("size", "factor", "latent"),
    [
        ((32, 48), (16, 16), (2, 3)),
        ((32, 16, 8), (16, 16, 2), (2, 1, 4)),
        ((16, 16, 16), (16, 16, 16), (1, 1, 1)),
    ],
)
def test_encoders_and_decoder_shapes(size, factor, latent):
    dims = len(size)
    strides = stage_strides(factor, 4)
    image = torch.rand(2, 3, *size)
    mask = torch.randint(0, 3, (2, 1, *size))
    z_i = ImageEncoder(dims, 3, CHANNELS, strides, num_heads=2)(image)
    z_l = LabelEncoder(dims, 3, CHANNELS, strides)(mask)
    assert z_i.shape == z_l.shape == (2, 1, *latent)
    logits = LabelDecoder(dims, 3, CHANNELS, strides)(z_l)
    assert logits.shape == (2, 3, *size)


@pytest.mark.parametrize(
    ("size", "factor", "stem_stride"),
    [((32, 48), (8, 8), 1), ((32, 48), (8, 8), 2), ((32, 16, 8), (16, 16, 1), 2)],
)
def test_decoder_with_image_skips_takes_the_encoder_stage_outputs(size, factor, stem_stride):
    dims = len(size)
    stem, strides = network_strides(factor, 4, stem_stride)
    assert stem == tuple(min(stem_stride, f) for f in factor)
    torch.manual_seed(0)
    encoder = ImageEncoder(dims, 1, CHANNELS, strides, num_heads=2, stem=stem).eval()
    decoder = LabelDecoder(dims, 3, CHANNELS, strides, image_skips=True, stem=stem).eval()
    image = torch.rand(2, 1, *size)
    z_i, skips = encoder.features(image)
    torch.testing.assert_close(z_i, encoder(image))
    grids, grid = [], [s // f for s, f in zip(size, stem, strict=True)]
    for i in range(len(CHANNELS)):
        if i:
            grid = [g // f for g, f in zip(grid, strides[i - 1], strict=True)]
        grids.append((2, CHANNELS[i], *grid))
    assert [tuple(h.shape) for h in skips] == grids
    assert (
        tuple(z_i.shape[2:])
        == tuple(grid)
        == tuple(s // f for s, f in zip(size, factor, strict=True))
    )
    z = torch.randn(2, 1, *grid)
    logits = decoder(z, skips)
    assert logits.shape == (2, 3, *size)
    # Every stage output but the last (z_i's input) reaches the output, and the latent does.
    for i in range(len(CHANNELS) - 1):
        changed = [h + 1 if j == i else h for j, h in enumerate(skips)]
        assert not torch.allclose(decoder(z, changed), logits), i
    assert not torch.allclose(decoder(z + 1, skips), logits)
    with pytest.raises(ValueError, match="needs the image encoder"):
        decoder(z)
    with pytest.raises(ValueError, match="takes no image skips"):
        LabelDecoder(dims, 3, CHANNELS, strides, stem=stem)(z, skips)


def test_the_stem_sees_only_the_means_of_its_pixel_blocks():
    """Noise that averages to zero over each 2 x 2 block cannot reach the stem's encoders."""
    stem, strides = network_strides((8, 8), 4, 2)
    torch.manual_seed(0)
    encoder = ImageEncoder(2, 1, CHANNELS, strides, num_heads=2, stem=stem).eval()
    image = torch.rand(1, 1, 32, 32)
    checker = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(16, 16)
    z_i, stages = encoder.features(image)
    noisy_z_i, noisy_stages = encoder.features(image + 0.3 * checker)
    torch.testing.assert_close(noisy_z_i, z_i)
    torch.testing.assert_close(noisy_stages[0], stages[0])
    full = ImageEncoder(2, 1, CHANNELS, stage_strides((8, 8), 4), num_heads=2).eval()
    assert not torch.allclose(full(image + 0.3 * checker), full(image))


def test_an_image_head_lets_the_decoder_see_what_the_stem_averages_away():
    """Checkerboard detail inside the stem's 2 x 2 blocks reaches the logits only through
    the full-resolution image head, and only at the pixels near it."""
    stem, strides = network_strides((8, 8), 4, 2)
    torch.manual_seed(0)
    encoder = ImageEncoder(2, 1, CHANNELS, strides, num_heads=2, stem=stem).eval()
    plain = LabelDecoder(2, 3, CHANNELS, strides, image_skips=True, stem=stem).eval()
    head = LabelDecoder(
        2, 3, CHANNELS, strides, image_skips=True, stem=stem, head_image_channels=1
    ).eval()
    image, z = torch.rand(1, 1, 32, 32), torch.randn(1, 1, 4, 4)
    detail = torch.zeros(1, 1, 32, 32)
    detail[..., 16:18, 16:18] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    _, stages = encoder.features(image)
    _, detailed = encoder.features(image + detail)
    torch.testing.assert_close(plain(z, detailed), plain(z, stages))
    logits = head(z, [image, *stages])
    changed = (head(z, [image + detail, *detailed]) - logits).abs().amax(dim=(0, 1)) > 1e-6
    rows, cols = changed.nonzero(as_tuple=True)
    assert changed.any() and rows.min() >= 14 and rows.max() <= 19 and cols.min() >= 14
    assert cols.max() <= 19  # the head's 3x3 convolution and the 3x3 logits: 2 pixels away
    with pytest.raises(ValueError, match="needs image_skips and a pooling stem"):
        LabelDecoder(2, 3, CHANNELS, stage_strides((8, 8), 4), image_skips=True,
                     head_image_channels=1)  # fmt: skip


def test_label_encoder_with_a_stem_gives_the_same_latent_grid():
    stem, strides = network_strides((8, 8), 4, 2)
    assert stem == (2, 2) and strides == [(2, 2), (2, 2), (1, 1), (1, 1)]
    z = LabelEncoder(2, 3, CHANNELS, strides, stem=stem)(torch.randint(0, 3, (2, 1, 32, 48)))
    assert z.shape == (2, 1, 4, 6)


def test_label_latent_is_standardized_per_sample():
    strides = stage_strides((16, 16), 4)
    torch.manual_seed(0)  # a near-constant latent's SD falls short of 1 by the 1e-5 epsilon
    z = LabelEncoder(2, 4, CHANNELS, strides)(torch.randint(0, 4, (3, 1, 64, 64)))
    flat = z.flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat.std(1, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


def test_label_encoder_accepts_indices_or_one_hot():
    torch.manual_seed(0)  # the two paths differ by float rounding: up to 2e-5 for some seeds
    encoder = LabelEncoder(2, 3, CHANNELS, stage_strides((16, 16), 4)).eval()
    mask = torch.randint(0, 3, (2, 1, 32, 32))
    one_hot = torch.nn.functional.one_hot(mask[:, 0], 3).movedim(-1, 1).float()
    torch.testing.assert_close(encoder(mask), encoder(one_hot))


@pytest.mark.parametrize("latent", [(8, 8), (5, 3), (4, 2, 3), (8, 8, 1)])
def test_denoiser_keeps_any_latent_shape(latent):
    denoiser = LatentDenoiser(len(latent), channels=(8, 16), attention=(False, True))
    z = torch.randn(2, 1, *latent)
    eps = denoiser(z, torch.randn_like(z), torch.tensor([1, 1000]))
    assert eps.shape == z.shape


def test_denoiser_depends_on_time_and_condition():
    torch.manual_seed(0)
    denoiser = LatentDenoiser(2, channels=(8, 16), attention=(False, True))
    torch.nn.init.normal_(denoiser.out.weight)  # the output layer starts at zero
    z, cond = torch.randn(1, 1, 8, 8), torch.randn(1, 1, 8, 8)
    base = denoiser(z, cond, torch.tensor([10]))
    assert not torch.allclose(base, denoiser(z, cond, torch.tensor([900])))
    assert not torch.allclose(base, denoiser(z, torch.randn_like(cond), torch.tensor([10])))


def test_stage_strides_anisotropic():
    assert stage_strides((16, 16, 2), 4) == [(2, 2, 2), (2, 2, 1), (2, 2, 1), (2, 2, 1)]
    assert stage_strides((1, 4), 4) == [(1, 2), (1, 2), (1, 1), (1, 1)]
    with pytest.raises(ValueError, match="power of 2"):
        stage_strides((12, 16), 4)
    with pytest.raises(ValueError, match="power of 2"):
        stage_strides((32, 16), 4)


def test_reference_sized_parameter_counts():
    """Same order as the reference (1.77 M in 2D, denoiser 1.0 M)."""
    from ldseg.models import LDSeg

    model = LDSeg(2, 1, 2)
    total = sum(p.numel() for p in model.parameters())
    denoiser = sum(p.numel() for p in model.denoiser.parameters())
    assert 1.0e6 < total < 2.5e6
    assert 0.8e6 < denoiser < 1.3e6


def test_attention_limit_drops_only_blocks_over_the_token_budget():
    from ldseg.nets.image_encoder import stage_tokens

    strides = stage_strides((16, 16), 4)
    assert stage_tokens((128, 128), strides) == [16384, 4096, 1024, 256, 64]
    full = ImageEncoder(2, 1, CHANNELS, strides, num_heads=2)
    limited = ImageEncoder(
        2, 1, CHANNELS, strides, num_heads=2, max_attention_tokens=100, input_size=(128, 128)
    )
    assert sorted(full.attention) == ["3", "4"] and sorted(limited.attention) == ["4"]
    assert not isinstance(limited.out_attention, torch.nn.Identity)
    none_kept = ImageEncoder(
        2, 1, CHANNELS, strides, num_heads=2, max_attention_tokens=10, input_size=(128, 128)
    )
    assert len(none_kept.attention) == 0
    assert isinstance(none_kept.out_attention, torch.nn.Identity)
    assert none_kept(torch.rand(1, 1, 128, 128)).shape == (1, 1, 8, 8)


def test_attention_under_cpu_bf16_autocast_runs_in_fp32(monkeypatch):
    """bf16 attention's backward is slow on CPUs (benchmarks/README.md), so it stays fp32."""
    block = AttentionBlock(8, num_heads=2)
    x = torch.randn(2, 8, 4, 4)
    seen = []
    attend = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v):
        seen.append((q.dtype, torch.is_autocast_enabled("cpu")))
        return attend(q, k, v)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    expected = block(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x)
    out.float().sum().backward()
    assert seen == [(torch.float32, False), (torch.float32, False)]
    assert torch.allclose(out.float(), expected, atol=0.1)
