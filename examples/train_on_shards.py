"""Train a model of your own on the pairs in `prep shard`'s shards (docs/api.md).

python examples/train_on_shards.py data/shards --steps 200
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader

from pipeline import ShardPairs, collate_pairs


def main(argv: list[str] | None = None) -> list[float]:
    """Train a small residual CNN for ``--steps`` batches; returns the L1 loss of each step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shards", help="shard folder (prep shard output)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--crop", type=int, default=128)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    pairs = ShardPairs(args.shards, "train", crop=args.crop, repeat=True)  # flips: the default
    loader = DataLoader(pairs, batch_size=4, collate_fn=collate_pairs)
    model = torch.nn.Sequential(  # yours here; (B, 3, H, W) RGB in [0, 1] in and out
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 3, 3, padding=1)
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step, (inputs, targets, _meta) in enumerate(loader, start=1):
        loss = torch.nn.functional.l1_loss((inputs + model(inputs)).clamp(0, 1), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        print(f"step {step}: L1 {loss.item():.4f}")
        if step == args.steps:
            return losses
    return losses


if __name__ == "__main__":
    main()
