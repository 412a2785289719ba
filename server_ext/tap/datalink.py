"""DataLink service descriptors on TAP results, and the services they describe.

As on the Rubin Science Platform, a result column holding an object id comes with a service
descriptor (DataLink 1.1 §4: a ``RESOURCE type="meta" utype="adhoc:service"`` whose input
parameter refers to the column's FIELD), so a client (TOPCAT's activation actions, pyvo's
``iter_adhocservices``) can fetch that object's light curve from the row:

* ``objectId`` -> ``/lsstbox/timeseries/forced?ID=<objectId>``: its forced photometry
  (ForcedSource with each visit's mid-exposure time);
* ``diaObjectId`` -> ``/lsstbox/timeseries/dia?ID=<diaObjectId>``: its difference-image sources.

Descriptors are only emitted for services this server runs; the image services (ObsCore
``access_url`` -> DataLink links, SODA cutouts) register theirs the same way when they exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa

__all__ = ["SERVICES", "Service", "describe", "timeseries_query"]


@dataclass(frozen=True)
class Service:
    column: str  # the result column it hangs on (case-insensitive)
    path: str  # below the server's base URL
    name: str
    description: str


SERVICES = (
    Service(
        "objectId",
        "lsstbox/timeseries/forced",
        "forced-photometry",
        "Forced PSF photometry of this object on every visit (ForcedSource with the visit's time)",
    ),
    Service(
        "diaObjectId",
        "lsstbox/timeseries/dia",
        "dia-sources",
        "Difference-image sources of this DIA object (DiaSource), in time order",
    ),
)

#: ADQL of each time series, by the last part of its path; ``{id}`` is an integer
_QUERIES = {
    "forced": (
        "SELECT f.forcedSourceId, f.objectId, f.visit, f.detector, f.band, v.expMidptMJD, "
        "f.psfFlux, f.psfFluxErr, scisql_nanojanskyToAbMag(f.psfFlux) AS psfMag "
        "FROM dp1.ForcedSource AS f JOIN dp1.Visit AS v ON v.visit = f.visit "
        "WHERE f.objectId = {id} ORDER BY v.expMidptMJD, f.forcedSourceId"
    ),
    "dia": "SELECT * FROM dp1.DiaSource WHERE diaObjectId = {id} ORDER BY midpointMjdTai, diaSourceId",
}


def timeseries_query(kind: str, ident: str) -> str:
    """The ADQL of time series ``kind`` ("forced" or "dia") for ``ident``; ``ValueError`` if the
    kind is unknown or the id is not an integer."""
    if kind not in _QUERIES:
        raise ValueError(f"no time series {kind!r}; use one of {', '.join(_QUERIES)}")
    try:
        value = int(ident.strip())
    except ValueError:
        raise ValueError(f"ID={ident!r} is not an integer object id") from None
    return _QUERIES[kind].format(id=value)


def describe(schema: pa.Schema, base_url: str) -> tuple[pa.Schema, list[str]]:
    """``schema`` with FIELD IDs on the columns that have a service, and the descriptors
    (XML fragments for :func:`~server_ext.tap.votable.write_result`)."""
    fields, fragments = list(schema), []
    for service in SERVICES:
        idx = next((i for i, f in enumerate(fields) if f.name.lower() == service.column.lower()), None)
        if idx is None:
            continue
        f = fields[idx]
        field_id = f.name  # the column's name, so that readers naming columns by ID agree
        fields[idx] = f.with_metadata({**(f.metadata or {}), b"ID": field_id.encode()})
        url = f"{base_url.rstrip('/')}/{service.path}"
        fragments.append(
            f'<RESOURCE type="meta" utype="adhoc:service" ID={quoteattr("svc_" + service.name)} '
            f"name={quoteattr(service.name)}>\n"
            f"<DESCRIPTION>{escape(service.description)}</DESCRIPTION>\n"
            f'<PARAM name="accessURL" datatype="char" arraysize="*" value={quoteattr(url)}/>\n'
            '<GROUP name="inputParams">\n'
            f'<PARAM name="ID" datatype="char" arraysize="*" ref={quoteattr(field_id)} value=""/>\n'
            "</GROUP>\n</RESOURCE>\n"
        )
    return pa.schema(fields, metadata=schema.metadata), fragments
