"""The image metrics, each defined once: ``reference`` (the definitions, scikit-image based, and
their constants), ``histogram`` (Hu et al.'s histogram similarity), ``scores`` (the per-image
job and score types of ``prep evaluate``, PSNR's cap, the GT-mean rescaling), and ``fast`` /
``fast_colour`` (the same metrics in numpy float32 and OpenCV, for the CPU). The torch path,
held equal to the reference by the tests, is ``exposure_models.metrics_torch``.

Images are float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded (sRGB), throughout. Nothing here
imports torch."""
