"""The server half of the image viewer: FITS images as PNG tiles and JSON, never FITS to the browser.

* :mod:`.source` -- what ``src=`` names (``file:<path>`` under the server's root, ``did:<obs_publisher_did>``
  of a release image, ``butler:<dataset uuid>``) and the file it resolves to;
* :mod:`.image` -- an open FITS image (the release's ``IMAGE``/``MASK``/``VARIANCE`` layout or the first
  2-d HDU of any FITS file), its WCS and mask planes, decompressed planes in a bytes-bounded LRU;
* :mod:`.tile` -- resampling (block average out, nearest in), stretches, colormaps, mask overlays, PNG;
* :mod:`.handlers` -- ``/lsstbox/image/{info,tile,pixel,world2pix,pix2world,options}``.

Pixel coordinates are 0-based with pixel centres on integers (numpy ``array[y, x]``); FITS row 0
(``y = 0``) is drawn at the *bottom* of a tile, as astronomers display images.
"""

from .errors import RenderError

__all__ = ["RenderError"]
