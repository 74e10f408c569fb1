"""The real-photo corpus that ``tools/real_photos.py`` gathers, one idea a module.

- ``catalogue``: the photographs allowed from each package (everything else was left out).
- ``licences``: licence and copyright of a photo, from Debian copyright files, Plasma metadata
  and scikit-learn's images README.
- ``fetch``: ``apt-get download`` of a package, scikit-learn's sample images.
- ``images``: decoding to sRGB, the not-a-photograph check, resizing, crops, atomic PNG writes.
- ``corpus``: the calibration / held-out split and the corpus index (``corpus.json``, ``.csv``).

Outside the project's packages on purpose: the corpus is gathered without installing them.
"""
