"""The built-in ``train`` presets: each seed as written (docs/presets.md), and the small runs
this project trains and ships. Written here only: params.yaml names one (``train.preset``) and
may add its own under ``train.presets``; a key not set by the preset keeps the field default
of ``TrainParams``.
"""

from __future__ import annotations

from typing import Any

from pipeline.params.build import deep_merge

# seed 000 as written: BCE + 100 L1, Adam 1.2e-4 (0.5, 0.999)
SEED000: dict[str, Any] = {
    "epochs": 250,  # EPOCHS = 250 (steps from the shard index's training-sample count)
    "batch_size": 32,  # the loader uses BATCH = 32 (TRAIN_BATCH = 16 is never read)
    "crop": 256,
    "resize": 256,  # A.Resize(width=256, height=256) on both images
    "resize_mode": "square",
    "lr": 1.2e-4,
    "decay_from": 1.0,  # constant learning rate (no scheduler)
    "init": "pytorch",  # the listing initialises nothing
    "generator": {
        "depth": 8,
        "width": 64,
        "norm": "batch",
        "output": "tanh",
        "bottleneck_padding": "zeros",
    },
    "discriminator": {"n_layers": 3, "width": 64, "norm": "batch"},
    "loss": {"gan": "bce", "gan_weight": 1.0, "l1_weight": 100.0, "perceptual_weight": 0.0},
    "augment": {"hflip": True, "jitter": 0.2, "jitter_p": 0.2, "hue": 0.2},  # ColorJitter(p=0.2)
}

# Every knob the small CPU runs share.
_SMALL: dict[str, Any] = {
    "batch_size": 8,
    "decay_from": 0.5,
    "workers": 1,
    "log_every": 50,
}

PRESETS: dict[str, dict[str, Any]] = {
    "seed000": SEED000,
    # seed 001: seed 000's network and data, lr 1e-4, batch 64, 150 epochs
    "seed001": deep_merge(SEED000, {"epochs": 150, "batch_size": 64, "lr": 1.0e-4}),
    # seed 002: stride-1 U-Net, LSGAN, spectral norm, noise, lc = 50, lp = 100
    "seed002": {
        "steps": 100000,  # the seed gives hours (10 h, 30 h), not steps or epochs
        "batch_size": 16,  # seed silent
        "crop": 256,  # Places365 images are 256 x 256
        "lr": 2.0e-4,  # seed silent: pix2pix's, which it builds on
        "generator": {
            "arch": "seed002",
            "fov": 140,
            "width": 64,
            "norm": "batch",
            "spectral_norm": True,
            "noise": "both",
        },
        "discriminator": {"arch": "seed002", "fov": 70, "width": 64, "spectral_norm": True},
        "loss": {
            "gan": "lsgan",
            "gan_weight": 0.5,  # eq. 8's 1/2
            "l1_weight": 50.0,
            "perceptual_weight": 100.0,
            "perceptual_norm": "eq5",
            "vgg_weights": "models/vgg19-dcbb9e7d.pth",
        },
        "augment": {"hflip": True},  # seed silent
    },
    # seed 003 (low-light): 3-conv generator, unconditional D, MAE + 0.01 GAN
    "seed003": {
        "epochs": 100,
        "batch_size": 8,
        "crop": 256,  # seed silent (LOL is 600 x 400)
        "lr": 1.0e-4,
        "decay_from": 1.0,
        "generator": {"arch": "seed003", "width": 64, "color_space": "ycrcb"},
        "discriminator": {"arch": "seed003", "width": 64, "color_space": "ycrcb"},
        "loss": {"gan": "bce", "gan_weight": 0.01, "l1_weight": 1.0, "content_space": "ycrcb"},
        "augment": {"hflip": True, "vflip": True, "rot90": True, "jitter": 0.2, "hue": 0.2},
    },
    # seed 003's super-resolution stage: x4, pairs by average pooling
    "seed003_sr": {
        "task": "sr",
        "epochs": 10,
        "batch_size": 8,  # seed silent
        "crop": 256,  # high-resolution crop; seed silent (its pairs are 625 -> 2500)
        "lr": 2.0e-4,
        "decay_from": 1.0,
        "sr": {"scale": 4, "degradation": "avgpool"},
        "generator": {"arch": "seed003_sr", "width": 64, "upsampling": "bilinear"},
        "discriminator": {"arch": "seed003", "width": 64, "color_space": "rgb"},
        "loss": {"gan": "bce", "gan_weight": 0.01, "l1_weight": 1.0},
        "augment": {"hflip": True},
    },
    # x4 super-resolution small enough for 2 CPU cores: a small ESRGAN generator on bicubic,
    # L1 only (ESRGAN's PSNR-oriented stage)
    "sr_demo": {
        **_SMALL,
        "task": "sr",
        "steps": 800,
        "crop": 128,
        "crops_per_sample": 4,
        "lr": 5.0e-4,
        "shuffle_buffer": 200,
        "checkpoint_every": 200,
        "sr": {"scale": 4, "degradation": "bicubic"},
        "generator": {"arch": "rrdb", "features": 32, "blocks": 2, "growth": 16, "base": "bicubic"},
        "discriminator": {"arch": "seed003", "width": 8, "color_space": "rgb"},
        "loss": {"gan": "bce", "gan_weight": 0.0, "l1_weight": 1.0},
        "augment": {"hflip": True, "vflip": True, "rot90": True},
    },
    # small enough to train on 2 CPU cores in about 6 minutes
    "demo": {
        **_SMALL,
        "steps": 1000,
        "crop": 128,
        "resize": 128,  # whole-scene crops: the network sees photos at this scale
        "crops_per_sample": 2,
        "lr": 1.0e-3,
        "shuffle_buffer": 200,
        "val_every": 250,
        "val_images": 4,
        "checkpoint_every": 100,
        "generator": {"depth": 7, "width": 16, "norm": "none", "skip": "gain", "dropout": 0.0},
        "discriminator": {"n_layers": 3, "width": 16},
        "loss": {"gan": "bce", "gan_weight": 0.1, "l1_weight": 100.0},
        "augment": {"hflip": True, "vflip": True, "rot90": True},
    },
    # the shipped exposure_models/pretrained/real.pt (model card beside it): real photos, an
    # image-level exposure estimate beside the U-Net
    "real": {
        **_SMALL,
        "steps": 1800,
        "crop": 128,
        "resize": 128,  # whole-scene crops, as demo
        "crops_per_sample": 4,
        "lr": 1.0e-3,
        "shuffle_buffer": 300,
        "val_every": 500,
        "val_images": 8,
        "checkpoint_every": 250,
        "generator": {
            "depth": 5,
            "width": 16,
            "norm": "none",
            "skip": "gain",
            "dropout": 0.0,
            "global_branch": "histogram",
        },
        "discriminator": {"n_layers": 3, "width": 16},
        "loss": {"gan": "bce", "gan_weight": 0.1, "l1_weight": 100.0},
        "augment": {"hflip": True, "vflip": True, "rot90": True, "identity": 0.25},
    },
}
