"""The generator's global exposure branch: histogram features and the image-level gain."""

from __future__ import annotations

import pytest
import torch

from exposure_models.generator import UNetConfig, UNetGenerator
from exposure_models.global_exposure import (
    QUANTILES,
    GlobalExposure,
    feature_count,
    histogram_features,
)


def test_histogram_features_read_exposure_not_layout() -> None:
    torch.manual_seed(0)
    img = torch.rand(1, 3, 32, 48) * 0.8
    shuffled = img.flatten(2)[..., torch.randperm(32 * 48)].view(1, 3, 32, 48)
    a, b = histogram_features(img, 16), histogram_features(shuffled, 16)
    assert a.shape == (1, feature_count(16))
    torch.testing.assert_close(a, b)  # a permutation of pixels changes nothing
    # larger image, same distribution: the features are fractions, not counts
    big = torch.nn.functional.interpolate(img, scale_factor=2, mode="nearest")
    torch.testing.assert_close(histogram_features(big, 16), a, atol=0.01, rtol=0)
    clipped = img.clone()
    clipped[..., :8, :] = 1.0  # a quarter of the photo blown out in every channel
    feats = histogram_features(clipped, 16)
    clip = feats[0, 4 * 16 : 4 * 16 + 4]
    assert torch.allclose(clip, torch.full((4,), 0.25))
    assert torch.allclose(a[0, 4 * 16 : 4 * 16 + 4], torch.zeros(4))
    # cumulative fractions end at 1
    assert feats[0, 2 * 16 - 1] == pytest.approx(1.0)
    # one stop darker (no clipping): every log2 quantile moves by the same 1 / gamma
    darker = histogram_features(img * 2 ** (-1 / 2.2), 16)
    n = len(QUANTILES)
    shift = a[0, -2 * n :] - darker[0, -2 * n :]
    assert torch.allclose(shift, torch.full_like(shift, 1 / 2.2), atol=0.02)


def test_histogram_features_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        histogram_features(torch.rand(1, 1, 8, 8), 16)
    with pytest.raises(ValueError, match="bins"):
        histogram_features(torch.rand(1, 3, 8, 8), 1)


def test_fresh_branch_is_the_identity_and_learns_one_gain() -> None:
    torch.manual_seed(0)
    gen = UNetGenerator(
        UNetConfig(
            depth=3,
            width=4,
            norm="none",
            skip="gain",
            dropout=0.0,
            global_branch="pooled",
            max_stops=2.0,
        )
    )
    with torch.no_grad():  # silence the local path: only the global branch acts
        gen.head.weight.zero_()
        gen.head.bias.zero_()
    x = torch.rand(2, 3, 16, 16) * 0.5
    torch.testing.assert_close(gen(x), x)  # zero-initialised last layer: no change
    with torch.no_grad():
        gen.global_exposure.mlp[-1].bias.fill_(float(torch.atanh(torch.tensor(0.5))))  # +1 stop
    expected = (x * 2 ** (1 / 2.2)).clamp(0, 1)
    torch.testing.assert_close(gen(x), expected)  # one gain for every pixel of every image


def test_branch_gets_gradients_from_the_image_loss() -> None:
    torch.manual_seed(0)
    gen = UNetGenerator(
        UNetConfig(depth=3, width=4, norm="none", skip="gain", global_branch="histogram")
    )
    x = torch.rand(2, 3, 16, 16) * 0.5
    (gen(x) - x * 1.2).abs().mean().backward()
    assert gen.global_exposure.mlp[-1].weight.grad.abs().sum() > 0


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="global_branch: 'histogram' needs skip: gain"):
        UNetConfig(global_branch="histogram")
    with pytest.raises(ValueError, match="global_branch: must be one of"):
        UNetConfig(skip="gain", global_branch="mean")
    with pytest.raises(ValueError, match="global_bins"):
        UNetConfig(skip="gain", global_branch="histogram", global_bins=1)
    with pytest.raises(ValueError, match="channels"):
        GlobalExposure(8, 8, 1.0, pooled_channels=4)(torch.rand(1, 3, 8, 8))
