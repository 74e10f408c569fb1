"""The networks of the seeds as their texts give them (seed 002's stride-1 U-Net and
field-of-view-settable PatchGAN, seed 003's three-convolution generator and unconditional
discriminator), the super-resolution generators, and the field-of-view arithmetic.

``build.py`` turns the ``train.generator`` / ``train.discriminator`` params into modules for
every architecture, including the pix2pix U-Net of ``exposure_models.generator``.
"""
