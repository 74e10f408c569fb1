"""Seed 000's pix2pix networks and training step, as its report gives them (reference peer).

Only for benchmarks/train.py: the same architecture as our seed000 preset, written the
seed's way (NCHW float32, fp16 autocast with two GradScalers on CUDA, separate D forwards).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, act: str, dropout: bool) -> None:
        super().__init__()
        conv = (
            nn.Conv2d(cin, cout, 4, 2, 1, bias=False, padding_mode="reflect")
            if down
            else nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        )
        self.conv = nn.Sequential(
            conv, nn.BatchNorm2d(cout), nn.ReLU() if act == "relu" else nn.LeakyReLU(0.2)
        )
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.conv(x))


class Generator(nn.Module):
    def __init__(self, c: int = 3, f: int = 64) -> None:
        super().__init__()
        self.initial_down = nn.Sequential(
            nn.Conv2d(c, f, 4, 2, 1, padding_mode="reflect"), nn.LeakyReLU(0.2)
        )
        chans = [f, f * 2, f * 4, f * 8, f * 8, f * 8, f * 8]
        self.downs = nn.ModuleList(Block(a, b, True, "leaky", False) for a, b in pairwise(chans))
        self.bottleneck = nn.Sequential(nn.Conv2d(f * 8, f * 8, 4, 2, 1), nn.ReLU())
        ups_in = [f * 8, f * 16, f * 16, f * 16, f * 16, f * 8, f * 4]
        ups_out = [f * 8, f * 8, f * 8, f * 8, f * 4, f * 2, f]
        self.ups = nn.ModuleList(
            Block(a, b, False, "relu", i < 3)
            for i, (a, b) in enumerate(zip(ups_in, ups_out, strict=True))
        )
        self.final_up = nn.Sequential(nn.ConvTranspose2d(f * 2, c, 4, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.initial_down(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = self.bottleneck(skips[-1])
        for i, up in enumerate(self.ups):
            y = up(y if i == 0 else torch.cat([y, skips[-i]], 1))
        return self.final_up(torch.cat([y, skips[0]], 1))


class CNNBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 4, stride, 1, bias=False, padding_mode="reflect"),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(0.2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Discriminator(nn.Module):
    def __init__(self, c: int = 3, features: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.initial = nn.Sequential(
            nn.Conv2d(c * 2, features[0], 4, 2, 1, padding_mode="reflect"), nn.LeakyReLU(0.2)
        )
        layers, cin = [], features[0]
        for feat in features[1:]:
            layers.append(CNNBlock(cin, feat, stride=1 if feat == features[-1] else 2))
            cin = feat
        layers.append(nn.Conv2d(cin, 1, 4, 1, 1, padding_mode="reflect"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.model(self.initial(torch.cat([x, y], 1)))


class SeedStep:
    """Seed 000's train_fn body for one batch (inputs in [-1, 1] as the seed normalises)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.gen, self.disc = Generator().to(device), Discriminator().to(device)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=1.2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=1.2e-4, betas=(0.5, 0.999))
        self.bce, self.l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
        cuda = device.type == "cuda"
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        self.d_scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        self.cuda = cuda

    def bind(self, x: torch.Tensor, y: torch.Tensor):  # type: ignore[no-untyped-def]
        """A no-argument callable running one step on (x, y)."""
        return lambda: self.step(x, y)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.cuda):
            y_fake = self.gen(x)
            d_real = self.disc(x, y)
            d_fake = self.disc(x, y_fake.detach())
            d_loss = (
                self.bce(d_real, torch.ones_like(d_real))
                + self.bce(d_fake, torch.zeros_like(d_fake))
            ) / 2
        self.disc.zero_grad()
        self.d_scaler.scale(d_loss).backward()
        self.d_scaler.step(self.opt_d)
        self.d_scaler.update()
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.cuda):
            d_fake = self.disc(x, y_fake)
            g_loss = self.bce(d_fake, torch.ones_like(d_fake)) + self.l1(y_fake, y) * 100
        self.opt_g.zero_grad()
        self.g_scaler.scale(g_loss).backward()
        self.g_scaler.step(self.opt_g)
        self.g_scaler.update()
