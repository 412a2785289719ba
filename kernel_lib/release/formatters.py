"""Butler storage class, delegate and formatter for LSST-like exposures without afw.

A release image (``visit_image``, ``deep_coadd``) is a multi-extension FITS file::

    HDU 0  primary header only: the exposure metadata
    IMAGE      float32 flux in nJy, with the WCS in its header (``BUNIT = 'nJy'``)
    MASK       int32 bit mask; header keywords ``MP_<NAME> = bit`` name the planes
    VARIANCE   float32 variance in nJy**2

Any of the image extensions may be tile-compressed (``CompImageHDU``); they are always
looked up by ``EXTNAME``.  In memory an exposure is an :class:`astropy.nddata.CCDData`:
``data`` = IMAGE, ``uncertainty`` = :class:`~astropy.nddata.VarianceUncertainty` (VARIANCE),
``flags`` = the int32 MASK bit plane, ``mask`` = boolean "do not use" pixels (any of the
:data:`BAD_MASK_PLANES` bits set; CCDData masks are boolean), ``wcs`` from the IMAGE header and
``meta`` = the primary header (plus the ``MP_*`` keywords naming the bits and, after a cut-out,
``LTV1``/``LTV2`` giving the cut-out's origin in the parent image).

The Butler side (see :data:`STORAGE_CLASSES` and :data:`DATASTORE_FORMATTERS`, which the
repository writer puts into the repository's ``butler.yaml``):

* storage class ``ExposureFits`` (``CCDData``), read parameter ``bbox`` =
  ``(x0, y0, width, height)`` in 0-based parent pixels: only those pixels are read (``.section``)
  and the WCS is shifted accordingly;
* components ``image``, ``mask``, ``variance`` (numpy arrays, honour ``bbox``), ``wcs``
  (``astropy.wcs.WCS``, honours ``bbox``) and ``metadata`` (primary ``astropy.io.fits.Header``),
  and the derived component ``bbox`` (``[x0, y0, width, height]`` of the whole image);
* :class:`ExposureFitsFormatter` (``FormatterV2``) reads and writes; write parameter
  ``compression`` (e.g. ``"RICE_1"``, ``"GZIP_2"``; default: none).

:func:`write_exposure_fits` / :func:`read_exposure_fits` are the same code without a Butler, so
the image renderer can write files in exactly this layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, VarianceUncertainty
from astropy.wcs import WCS
from lsst.daf.butler import FormatterV2, StorageClassDelegate
from lsst.resources import ResourcePath

from .exposure import MASK_PLANES, Exposure, check_bbox, read_exposure, write_exposure

__all__ = [
    "BAD_MASK_PLANES",
    "DATASTORE_FORMATTERS",
    "DEFAULT_MASK_PLANES",
    "STORAGE_CLASSES",
    "ExposureFitsDelegate",
    "ExposureFitsFormatter",
    "read_exposure_fits",
    "write_exposure_fits",
]

#: LSST default mask planes (bit numbers as in afw): the ones the release's files use.
DEFAULT_MASK_PLANES: dict[str, int] = dict(MASK_PLANES)

#: planes that make a pixel unusable: ``CCDData.mask`` is set where any of these bits is.
BAD_MASK_PLANES: tuple[str, ...] = ("BAD", "SAT", "CR", "EDGE", "SUSPECT", "NO_DATA")

_MODULE = __name__
#: storage classes to put under ``storageClasses`` of a repository config.
STORAGE_CLASSES: dict[str, Any] = {
    "AstropyWcs": {"pytype": "astropy.wcs.WCS"},
    "FitsHeader": {"pytype": "astropy.io.fits.Header"},
    "ExposureFits": {
        "pytype": "astropy.nddata.CCDData",
        "delegate": f"{_MODULE}.ExposureFitsDelegate",
        "parameters": ["bbox"],
        "components": {
            "image": "NumpyArray",
            "mask": "NumpyArray",
            "variance": "NumpyArray",
            "wcs": "AstropyWcs",
            "metadata": "FitsHeader",
        },
        "derivedComponents": {"bbox": "StructuredDataList"},
    },
}
#: formatters to put under ``datastore.formatters`` of a repository config.
DATASTORE_FORMATTERS: dict[str, str] = {"ExposureFits": f"{_MODULE}.ExposureFitsFormatter"}

BBox = tuple[int, int, int, int]


def _slices(bbox: BBox) -> tuple[slice, slice]:
    x0, y0, w, h = bbox
    return slice(y0, y0 + h), slice(x0, x0 + w)


def _card_key(key: str) -> str:
    """``key``, spelled as an explicit HIERARCH card when it is longer than 8 characters.

    (astropy warns when it has to turn a long keyword into HIERARCH itself.)
    """
    if len(key) > 8 and not key.upper().startswith("HIERARCH "):
        return f"HIERARCH {key}"
    return key


def _mask_planes(header: fits.Header) -> dict[str, int]:
    return {k[3:]: int(v) for k, v in header.items() if k.startswith("MP_")}


def _bad_bits(planes: Mapping[str, int]) -> int:
    bits = 0
    for name in BAD_MASK_PLANES:
        if name in planes:
            bits |= 1 << planes[name]
    return bits


def read_exposure_fits(path: str, bbox: Sequence[int] | None = None, component: str | None = None) -> Any:
    """Read an exposure (or one ``component`` of it) from a release MEF file.

    The pixels are read by :func:`kernel_lib.release.exposure.read_exposure` (one reader for the
    whole project); this adds the Butler's in-memory form, a :class:`CCDData`.
    """
    if component == "metadata":
        return fits.getheader(path, 0)
    if component == "bbox":
        header = fits.getheader(path, "IMAGE")
        nx = header.get("ZNAXIS1", header.get("NAXIS1"))
        ny = header.get("ZNAXIS2", header.get("NAXIS2"))
        return [0, 0, int(nx), int(ny)]
    if component not in (None, "wcs", "image", "mask", "variance"):
        raise ValueError(f"unknown component {component!r}")
    exp = read_exposure(path, bbox)
    if component == "wcs":
        return exp.wcs
    if component is not None:
        return getattr(exp, component)
    meta = exp.metadata.copy()
    for name, bit in MASK_PLANES.items():
        if f"MP_{name}" not in meta:
            meta[_card_key(f"MP_{name}")] = bit
    if bbox is not None:
        meta["LTV1"] = (-int(bbox[0]), "cut-out origin: parent x = x - LTV1")
        meta["LTV2"] = (-int(bbox[1]), "cut-out origin: parent y = y - LTV2")
    return CCDData(
        exp.image,
        unit=u.nJy,
        uncertainty=VarianceUncertainty(exp.variance, unit=u.nJy**2),
        mask=(exp.mask & _bad_bits(MASK_PLANES)) != 0,
        flags=exp.mask,
        wcs=exp.wcs,
        meta=meta,
    )


def write_exposure_fits(path: str, exposure: CCDData, *, compression: bool | str | None = None) -> int:
    """Write ``exposure`` as a release MEF file through :func:`kernel_lib.release.exposure.write_exposure`.

    The bit plane is ``flags`` (a boolean ``mask`` alone becomes the BAD bit); a missing
    uncertainty becomes a NaN variance.  ``compression`` (any true value, e.g. ``"RICE_1"``)
    tile-compresses the planes the way the release does (quantised floats); ``"GZIP_1"``,
    ``"GZIP_2"`` or ``"lossless"`` compress without loss.
    """
    meta = fits.Header()
    for key, value in dict(exposure.meta or {}).items():
        k = key.upper()
        if k in ("LTV1", "LTV2", "SIMPLE", "BITPIX", "EXTEND") or k.startswith(("MP_", "NAXIS")):
            continue
        meta[_card_key(key)] = value
    shape = exposure.data.shape
    if exposure.flags is not None:
        bits = np.asarray(exposure.flags).astype(np.int32)
    elif exposure.mask is not None:
        bits = np.where(np.asarray(exposure.mask), np.int32(1 << MASK_PLANES["BAD"]), np.int32(0))
    else:
        bits = np.zeros(shape, dtype=np.int32)
    if exposure.uncertainty is not None:
        variance = exposure.uncertainty.represent_as(VarianceUncertainty).array
    else:
        variance = np.full(shape, np.nan, dtype=np.float32)
    exp = Exposure(
        image=np.asarray(exposure.data),
        mask=bits,
        variance=np.asarray(variance),
        wcs=exposure.wcs if exposure.wcs is not None else WCS(naxis=2),
        metadata=meta,
    )
    mode: bool | str = bool(compression)
    if isinstance(compression, str) and compression.upper() in ("GZIP_1", "GZIP_2", "LOSSLESS"):
        mode = "lossless"
    return write_exposure(path, exp, compress=mode)


class ExposureFitsDelegate(StorageClassDelegate):
    """Components and ``bbox`` for in-memory :class:`CCDData` exposures."""

    def can_accept(self, inMemoryDataset: Any) -> bool:
        return isinstance(inMemoryDataset, CCDData)

    def getComponent(self, composite: Any, componentName: str) -> Any:
        ccd: CCDData = composite
        if componentName == "image":
            return np.asarray(ccd.data)
        if componentName == "mask":
            bits = ccd.flags if ccd.flags is not None else ccd.mask
            return None if bits is None else np.asarray(bits).astype(np.int32, copy=False)
        if componentName == "variance":
            if ccd.uncertainty is None:
                return None
            return ccd.uncertainty.represent_as(VarianceUncertainty).array
        if componentName == "wcs":
            return ccd.wcs
        if componentName == "metadata":
            return fits.Header(dict(ccd.meta))
        if componentName == "bbox":
            ny, nx = ccd.data.shape
            return [0, 0, nx, ny]
        raise AttributeError(f"Unable to get component {componentName}")

    def assemble(self, components: dict[str, Any], pytype: type | None = None) -> Any:
        variance = components.get("variance")
        flags = components.get("mask")
        meta = components.get("metadata")
        mask = None
        if flags is not None:
            planes = _mask_planes(meta) if meta is not None else {}
            mask = (flags & _bad_bits(planes or DEFAULT_MASK_PLANES)) != 0
        return CCDData(
            components["image"],
            unit=u.nJy,
            uncertainty=VarianceUncertainty(variance) if variance is not None else None,
            mask=mask,
            flags=flags,
            wcs=components.get("wcs"),
            meta=components.get("metadata"),
        )

    def handleParameters(self, inMemoryDataset: Any, parameters: Mapping[str, Any] | None = None) -> Any:
        if not parameters:
            return inMemoryDataset
        unknown = set(parameters) - {"bbox"}
        if unknown:
            raise ValueError(f"unsupported parameters {sorted(unknown)}")
        ccd: CCDData = inMemoryDataset
        if parameters["bbox"] is None:
            return ccd
        ny, nx = ccd.data.shape[-2:]
        box = check_bbox(parameters["bbox"], nx, ny, "the in-memory exposure")
        out = ccd[_slices(box)]
        if ccd.flags is not None:  # CCDData slicing drops flags
            out.flags = np.asarray(ccd.flags)[_slices(box)].copy()
        out.meta["LTV1"] = -box[0]
        out.meta["LTV2"] = -box[1]
        return out


class ExposureFitsFormatter(FormatterV2):
    """Read/write :class:`CCDData` exposures as release MEF files (local files only)."""

    default_extension = ".fits"
    supported_extensions = frozenset({".fits", ".fits.fz", ".fz"})
    unsupported_parameters = frozenset()  # ``bbox`` is applied while reading
    supported_write_parameters = frozenset({"compression"})
    can_read_from_local_file = True

    def read_from_local_file(self, path: str, component: str | None = None, expected_size: int = -1) -> Any:
        params = self.file_descriptor.parameters or {}
        unknown = set(params) - {"bbox"}
        if unknown:
            raise ValueError(f"unsupported read parameters {sorted(unknown)}")
        return read_exposure_fits(path, bbox=params.get("bbox"), component=component)

    def write_local_file(self, in_memory_dataset: Any, uri: ResourcePath) -> None:
        if not isinstance(in_memory_dataset, CCDData):
            raise TypeError(f"expected an astropy CCDData, got {type(in_memory_dataset)}")
        write_exposure_fits(
            uri.ospath, in_memory_dataset, compression=self.write_parameters.get("compression")
        )
