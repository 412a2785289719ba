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

#: LSST default mask planes (bit numbers as in afw).
DEFAULT_MASK_PLANES: dict[str, int] = {
    "BAD": 0,
    "SAT": 1,
    "INTRP": 2,
    "CR": 3,
    "EDGE": 4,
    "DETECTED": 5,
    "DETECTED_NEGATIVE": 6,
    "SUSPECT": 7,
    "NO_DATA": 8,
}

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


def _check_bbox(bbox: Sequence[int] | None, shape: tuple[int, ...]) -> BBox | None:
    """Validate ``(x0, y0, width, height)`` against an image ``(ny, nx)`` shape."""
    if bbox is None:
        return None
    try:
        x0, y0, w, h = (int(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"bbox must be (x0, y0, width, height), got {bbox!r}") from None
    ny, nx = shape[-2:]
    if w <= 0 or h <= 0 or x0 < 0 or y0 < 0 or x0 + w > nx or y0 + h > ny:
        raise ValueError(f"bbox {(x0, y0, w, h)} is empty or outside the image ({nx} x {ny} pixels)")
    return x0, y0, w, h


def _slices(bbox: BBox) -> tuple[slice, slice]:
    x0, y0, w, h = bbox
    return slice(y0, y0 + h), slice(x0, x0 + w)


def _shift_wcs(wcs: WCS, bbox: BBox | None) -> WCS:
    if bbox is None:
        return wcs
    # WCS.slice understands numpy order and keeps SIP/other distortions consistent.
    return wcs.slice(_slices(bbox))


def _hdu(hdul: fits.HDUList, extname: str) -> fits.ImageHDU | fits.CompImageHDU:
    try:
        return hdul[extname]
    except KeyError:
        raise ValueError(f"{hdul.filename()} has no {extname} extension") from None


def _read_pixels(hdu: fits.ImageHDU | fits.CompImageHDU, bbox: BBox | None) -> np.ndarray:
    if bbox is None:
        data = hdu.data
    else:
        data = hdu.section[_slices(bbox)]
    # copy (the file is memory-mapped and about to be closed), in native byte order
    data = np.asarray(data)
    return data.astype(data.dtype.newbyteorder("="), copy=True)


def _image_wcs(hdul: fits.HDUList) -> WCS:
    header = _hdu(hdul, "IMAGE").header
    if "CTYPE1" not in header and "CTYPE1" in hdul[0].header:
        header = hdul[0].header
    return WCS(header, naxis=2)


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


def _image_shape(hdul: fits.HDUList) -> tuple[int, int]:
    hdu = _hdu(hdul, "IMAGE")
    return tuple(int(n) for n in hdu.shape)  # type: ignore[return-value]


def read_exposure_fits(path: str, bbox: Sequence[int] | None = None, component: str | None = None) -> Any:
    """Read an exposure (or one ``component`` of it) from a release MEF file."""
    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        if component == "metadata":
            return hdul[0].header.copy()
        shape = _image_shape(hdul)
        if component == "bbox":
            return [0, 0, shape[1], shape[0]]
        box = _check_bbox(bbox, shape)
        if component == "wcs":
            return _shift_wcs(_image_wcs(hdul), box)
        if component in ("image", "mask", "variance"):
            return _read_pixels(_hdu(hdul, component.upper()), box)
        if component is not None:
            raise ValueError(f"unknown component {component!r}")

        image_hdu = _hdu(hdul, "IMAGE")
        data = _read_pixels(image_hdu, box)
        mask_hdu = hdul["MASK"] if "MASK" in hdul else None
        var_hdu = hdul["VARIANCE"] if "VARIANCE" in hdul else None
        flags = _read_pixels(mask_hdu, box) if mask_hdu is not None else None
        variance = _read_pixels(var_hdu, box) if var_hdu is not None else None
        meta = hdul[0].header.copy()
        mask = None
        if mask_hdu is not None:
            planes = _mask_planes(mask_hdu.header)
            for name, bit in planes.items():
                if f"MP_{name}" not in meta:
                    meta[_card_key(f"MP_{name}")] = bit
            if flags is not None:
                mask = (flags & _bad_bits(planes)) != 0
        if box is not None:
            meta["LTV1"] = (-box[0], "cut-out origin: parent x = x - LTV1")
            meta["LTV2"] = (-box[1], "cut-out origin: parent y = y - LTV2")
        unit = u.Unit(image_hdu.header.get("BUNIT", "nJy"), parse_strict="silent")
        return CCDData(
            data,
            unit=unit,
            uncertainty=VarianceUncertainty(variance, unit=unit**2) if variance is not None else None,
            mask=mask,
            flags=flags,
            wcs=_shift_wcs(_image_wcs(hdul), box),
            meta=meta,
        )


def _image_hdu(data: np.ndarray, header: fits.Header, compression: str | None) -> fits.ImageHDU:
    if compression:
        return fits.CompImageHDU(data, header=header, compression_type=compression)
    return fits.ImageHDU(data, header=header)


def write_exposure_fits(
    path: str,
    exposure: CCDData,
    *,
    mask_planes: Mapping[str, int] | None = None,
    compression: str | None = None,
    overwrite: bool = False,
) -> None:
    """Write ``exposure`` as a release MEF file (see the module docstring for the layout).

    ``mask_planes`` names the mask bits (default: ``MP_*`` keywords in ``exposure.meta``, else
    :data:`DEFAULT_MASK_PLANES`).  ``compression`` is a FITS tile-compression algorithm name
    (``"RICE_1"``, ``"GZIP_2"``, ...) applied to all three image extensions.
    """
    meta = fits.Header()
    for key, value in dict(exposure.meta or {}).items():
        if key.upper() in ("LTV1", "LTV2") or key.upper().startswith("MP_"):
            continue
        if key.upper() in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND") or key.upper().startswith("NAXIS"):
            continue
        meta[_card_key(key)] = value
    if mask_planes is None:
        mask_planes = {
            k[3:]: int(v) for k, v in dict(exposure.meta or {}).items() if k.upper().startswith("MP_")
        } or DEFAULT_MASK_PLANES
    unit = exposure.unit if exposure.unit is not None else u.nJy

    img_header = exposure.wcs.to_header(relax=True) if exposure.wcs is not None else fits.Header()
    img_header["EXTNAME"] = "IMAGE"
    img_header["BUNIT"] = unit.to_string("fits") if unit != u.nJy else "nJy"
    hdus: list[fits.hdu.base.ExtensionHDU] = [
        _image_hdu(np.asarray(exposure.data, dtype=np.float32), img_header, compression)
    ]
    # the bit plane is ``flags``; a boolean ``mask`` alone becomes the BAD bit
    mask = exposure.flags if exposure.flags is not None else exposure.mask
    mask_header = fits.Header()
    mask_header["EXTNAME"] = "MASK"
    for name, bit in mask_planes.items():
        mask_header[_card_key(f"MP_{name}")] = bit
    mask_data = (
        np.zeros(exposure.data.shape, dtype=np.int32)
        if mask is None
        else np.asarray(mask).astype(np.int32, copy=False)
    )
    hdus.append(_image_hdu(mask_data, mask_header, compression and "GZIP_2"))
    var_header = fits.Header()
    var_header["EXTNAME"] = "VARIANCE"
    if exposure.uncertainty is not None:
        variance = exposure.uncertainty.represent_as(VarianceUncertainty).array
    else:
        variance = np.full(exposure.data.shape, np.nan, dtype=np.float32)
    hdus.append(_image_hdu(np.asarray(variance, dtype=np.float32), var_header, compression))
    fits.HDUList([fits.PrimaryHDU(header=meta), *hdus]).writeto(path, overwrite=overwrite)


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
        box = _check_bbox(parameters["bbox"], ccd.data.shape)
        if box is None:
            return ccd
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
            uri.ospath,
            in_memory_dataset,
            compression=self.write_parameters.get("compression"),
            overwrite=True,
        )
