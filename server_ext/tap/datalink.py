"""DataLink service descriptors on TAP results, and the services they describe.

As on the Rubin Science Platform, a result column holding an object id comes with a service
descriptor (DataLink 1.1 §4: a ``RESOURCE type="meta" utype="adhoc:service"`` whose input
parameter refers to the column's FIELD), so a client (TOPCAT's activation actions, pyvo's
``iter_adhocservices``) can fetch that object's light curve from the row:

* ``objectId`` -> ``/lsstbox/timeseries/forced?ID=<objectId>``: its forced photometry
  (ForcedSource with each visit's mid-exposure time);
* ``diaObjectId`` -> ``/lsstbox/timeseries/dia?ID=<diaObjectId>``: its difference-image sources;
* ``obs_publisher_did`` (ObsCore) -> ``/lsstbox/datalink/links?ID=<did>`` (DataLink 1.1 links:
  the FITS file as ``#this``, served from the release's Butler datastore under
  ``/lsstbox/files/``); ObsCore's ``access_url`` points there too.

Descriptors are only emitted for services this server runs; SODA cutouts will add theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa

__all__ = ["SERVICES", "Service", "absolute_access_urls", "describe", "links_table", "timeseries_query"]


@dataclass(frozen=True)
class Service:
    column: str  # the result column it hangs on (case-insensitive)
    path: str  # below the server's base URL
    name: str
    description: str
    standard_id: str = ""


SERVICES = (
    Service(
        "objectId",
        "lsstbox/timeseries/forced",
        "forced-photometry",
        "Forced PSF photometry of this object on every visit (ForcedSource with the visit's time)",
    ),
    Service(
        "obs_publisher_did",
        "lsstbox/datalink/links",
        "datalink",
        "DataLink links of this dataset: the FITS file (#this)",
        "ivo://ivoa.net/std/DataLink#links-1.1",
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


def absolute_access_urls(batch: pa.RecordBatch, base_url: str) -> pa.RecordBatch:
    """ObsCore's ``access_url`` is stored relative to ``/lsstbox/`` (the release does not know
    where it is served); results give clients the absolute URL."""
    import pyarrow.compute as pc

    names = [n.lower() for n in batch.schema.names]
    if "access_url" not in names:
        return batch
    i = names.index("access_url")
    col = batch.column(i)
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        return batch
    prefix = f"{base_url.rstrip('/')}/lsstbox/"
    absolute = pc.binary_join_element_wise(pa.scalar(prefix, col.type), col, pa.scalar("", col.type))
    fixed = pc.if_else(pc.starts_with(col, "http"), col, absolute)
    return batch.set_column(i, batch.schema.field(i), fixed)


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
        standard = (
            '<PARAM name="standardID" datatype="char" arraysize="*" '
            f"value={quoteattr(service.standard_id)}/>\n"
            if service.standard_id
            else ""
        )
        fragments.append(
            f'<RESOURCE type="meta" utype="adhoc:service" ID={quoteattr("svc_" + service.name)} '
            f"name={quoteattr(service.name)}>\n"
            f"<DESCRIPTION>{escape(service.description)}</DESCRIPTION>\n"
            + standard
            + f'<PARAM name="accessURL" datatype="char" arraysize="*" value={quoteattr(url)}/>\n'
            '<GROUP name="inputParams">\n'
            f'<PARAM name="ID" datatype="char" arraysize="*" ref={quoteattr(field_id)} value=""/>\n'
            "</GROUP>\n</RESOURCE>\n"
        )
    return pa.schema(fields, metadata=schema.metadata), fragments


#: the columns of a DataLink 1.1 links response, in order
LINKS_COLUMNS = (
    "ID",
    "access_url",
    "service_def",
    "error_message",
    "semantics",
    "description",
    "content_type",
    "content_length",
)


def links_table(ids: list[str], obscore: pa.Table, base_url: str) -> pa.Table:
    """The DataLink links of ``ids`` (ObsCore ``obs_publisher_did`` s): ``#this`` -> the file;
    an unknown id gets a ``NotFoundFault`` row, as DataLink says."""
    import pyarrow.compute as pc

    rows: dict[str, list[object]] = {c: [] for c in LINKS_COLUMNS}
    dids = obscore.column("obs_publisher_did")
    for ident in ids:
        hit = obscore.filter(pc.equal(dids, ident)).slice(0, 1).to_pylist()
        rec = hit[0] if hit else None
        values: dict[str, object] = {c: None for c in LINKS_COLUMNS}
        values["ID"] = ident
        if rec is None or not rec.get("lsst_file"):
            values["error_message"] = f"NotFoundFault: no dataset {ident} in this release"
        else:
            path = str(rec["lsst_file"]).removeprefix("butler/")
            values["access_url"] = f"{base_url.rstrip('/')}/lsstbox/files/{path}"
            values["semantics"] = "#this"
            values["description"] = f"{rec.get('dataproduct_subtype')} {rec.get('obs_id')} (FITS)"
            values["content_type"] = "application/fits"
            size = rec.get("access_estsize")
            values["content_length"] = int(size) * 1024 if size is not None else None
        for c in LINKS_COLUMNS:
            rows[c].append(values[c])
    types = {c: pa.string() for c in LINKS_COLUMNS} | {"content_length": pa.int64()}
    meta = {
        "ID": b"meta.id;meta.main",
        "access_url": b"meta.ref.url",
        "service_def": b"meta.ref",
        "error_message": b"meta.code.error",
        "semantics": b"meta.code",
        "description": b"meta.note",
        "content_type": b"meta.code.mime",
        "content_length": b"phys.size;meta.file",
    }
    fields = [
        pa.field(
            c, types[c], metadata={b"ucd": meta[c], **({b"unit": b"byte"} if c == "content_length" else {})}
        )
        for c in LINKS_COLUMNS
    ]
    return pa.table([pa.array(rows[c], types[c]) for c in LINKS_COLUMNS], schema=pa.schema(fields))
