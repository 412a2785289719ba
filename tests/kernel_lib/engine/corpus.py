# ruff: noqa: E501  (queries are data: one per line reads best)
"""The differential-testing corpus: ADQL queries over the tiny release (field at RA 53.16, Dec -28.1).

Each entry is ``(query, mode)``: ``"set"`` compares results as multisets of rows, ``"ordered"``
compares the order too (the ORDER BY fully determines it), ``"count"`` compares only the number
of rows (TOP without ORDER BY may pick any rows).  The few template expansions below are plain
string formatting (microseconds at import).
"""

from __future__ import annotations

RA, DEC = 53.16, -28.1

_HAND: list[tuple[str, str]] = [
    # --- select lists, aliases, expressions
    ("SELECT * FROM dp1.Object", "set"),
    ("SELECT * FROM dp1.Visit", "set"),
    ("SELECT * FROM dp1.CcdVisit", "set"),
    ("SELECT * FROM dp1.Reference", "set"),
    ("SELECT * FROM dp1.DiaObject", "set"),
    ("SELECT * FROM dp1.DiaSource", "set"),
    ("SELECT objectId, coord_ra, coord_dec FROM dp1.Object", "set"),
    ("SELECT o.objectId AS id, o.r_psfMag AS r FROM dp1.Object AS o", "set"),
    ("SELECT objectId, g_psfMag - r_psfMag AS gr, r_psfMag - i_psfMag AS ri FROM dp1.Object", "set"),
    ("SELECT objectId, r_psfFlux / r_psfFluxErr AS snr FROM dp1.Object WHERE r_psfFluxErr > 0", "set"),
    ("SELECT objectId, 2 * r_psfMag + 1 FROM dp1.Object", "set"),
    ("SELECT objectId, -r_psfMag FROM Object", "set"),
    ("SELECT visit, band, airmass, expTime FROM dp1.Visit", "set"),
    ("SELECT DISTINCT band FROM dp1.ForcedSource", "set"),
    ("SELECT DISTINCT band, visit FROM dp1.ForcedSource", "set"),
    ("SELECT DISTINCT refBand FROM dp1.Object", "set"),
    ("SELECT DISTINCT detector FROM dp1.Source", "set"),
    ("SELECT DISTINCT tract, patch FROM dp1.Object", "set"),
    ("SELECT DISTINCT band FROM dp1.ForcedSource ORDER BY band", "ordered"),
    ("SELECT DISTINCT TOP 3 band FROM dp1.ForcedSource ORDER BY band DESC", "ordered"),
    ("SELECT TOP 10 objectId FROM dp1.Object", "count"),
    ("SELECT TOP 0 objectId FROM dp1.Object", "count"),
    ("SELECT TOP 100000 objectId FROM dp1.Object", "set"),
    ("SELECT TOP 7 * FROM dp1.ForcedSource", "count"),
    ("SELECT TOP 10 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag, objectId", "ordered"),
    ("SELECT TOP 10 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag DESC, objectId", "ordered"),
    ("SELECT TOP 5 objectId FROM dp1.Object ORDER BY g_psfMag - r_psfMag DESC, objectId", "ordered"),
    ("SELECT TOP 5 objectId, g_psfMag FROM dp1.Object ORDER BY 2, 1", "ordered"),
    ("SELECT TOP 5 objectId AS id, r_psfMag AS m FROM dp1.Object ORDER BY m, id", "ordered"),
    ("SELECT objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag DESC, objectId", "ordered"),
    (
        "SELECT TOP 20 forcedSourceId, psfFlux FROM dp1.ForcedSource ORDER BY psfFlux DESC, forcedSourceId",
        "ordered",
    ),
    ("SELECT TOP 20 * FROM dp1.ForcedSource ORDER BY forcedSourceId", "ordered"),
    ("SELECT TOP 1000 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag, objectId", "ordered"),
    ("SELECT TOP 3 visit, expMidptMJD FROM dp1.Visit ORDER BY expMidptMJD", "ordered"),
    # --- WHERE
    ("SELECT objectId FROM dp1.Object WHERE r_psfMag < 22 AND g_psfMag > 20", "set"),
    ("SELECT objectId FROM dp1.Object WHERE r_psfMag < 20 OR i_psfMag > 25", "set"),
    ("SELECT objectId FROM dp1.Object WHERE NOT (r_psfMag < 23)", "set"),
    ("SELECT objectId FROM dp1.Object WHERE r_psfMag BETWEEN 21 AND 23", "set"),
    ("SELECT objectId FROM dp1.Object WHERE r_psfMag NOT BETWEEN 21 AND 23", "set"),
    ("SELECT objectId FROM dp1.Object WHERE refBand IN ('r', 'i')", "set"),
    ("SELECT objectId FROM dp1.Object WHERE refBand NOT IN ('r', 'i')", "set"),
    ("SELECT forcedSourceId FROM dp1.ForcedSource WHERE band LIKE 'g%'", "set"),
    ("SELECT forcedSourceId FROM dp1.ForcedSource WHERE band NOT LIKE '_'", "set"),
    ("SELECT physical_filter FROM dp1.Visit WHERE physical_filter LIKE '%r%'", "set"),
    ("SELECT objectId FROM dp1.Object WHERE u_psfMag IS NULL", "set"),
    ("SELECT objectId FROM dp1.Object WHERE u_psfMag IS NOT NULL", "set"),
    ("SELECT objectId FROM dp1.Object WHERE detect_isPrimary = 1", "set"),
    ("SELECT forcedSourceId FROM dp1.ForcedSource WHERE psfFlux_flag = 0 AND psfFlux > 1000", "set"),
    (
        "SELECT objectId FROM dp1.Object WHERE r_extendedness > 0.5 AND (g_psfMag < 23 OR r_psfMag < 22)",
        "set",
    ),
    ("SELECT visit FROM dp1.Visit WHERE band = 'r'", "set"),
    ("SELECT objectId FROM dp1.Object WHERE objectId = 44534618971439224", "set"),
    ("SELECT objectId FROM dp1.Object WHERE 1 = 0", "set"),
    # --- math and string functions
    ("SELECT objectId, ABS(g_psfMag - r_psfMag), SQRT(r_psfFlux * r_psfFlux) FROM dp1.Object", "set"),
    ("SELECT objectId, ROUND(r_psfMag, 2), FLOOR(r_psfMag), CEILING(r_psfMag) FROM dp1.Object", "set"),
    (
        "SELECT objectId, LOG10(r_psfFlux), LOG(r_psfFlux), EXP(r_psfMag / 10) FROM dp1.Object WHERE r_psfFlux > 0",
        "set",
    ),
    ("SELECT objectId, POWER(r_psfMag, 2), MOD(objectId, 7) FROM dp1.Object", "set"),
    (
        "SELECT objectId, SIN(RADIANS(coord_dec)), COS(RADIANS(coord_ra)), TAN(RADIANS(coord_dec)) FROM dp1.Object",
        "set",
    ),
    (
        "SELECT objectId, DEGREES(ASIN(SIN(RADIANS(coord_dec)))), ATAN2(coord_dec, coord_ra) FROM dp1.Object",
        "set",
    ),
    ("SELECT objectId, TRUNCATE(r_psfMag, 1), PI() FROM dp1.Object", "set"),
    (
        "SELECT visit, UPPER(band), LOWER(physical_filter), band || '-' || physical_filter FROM dp1.Visit",
        "set",
    ),
    ("SELECT visit FROM dp1.Visit WHERE LOWER(band) = 'g'", "set"),
    # --- geometry
    (
        f"SELECT objectId FROM dp1.Object WHERE 1 = CONTAINS(POINT('ICRS', coord_ra, coord_dec), CIRCLE('ICRS', {RA}, {DEC}, 0.01))",
        "set",
    ),
    (
        f"SELECT objectId FROM dp1.Object WHERE CONTAINS(POINT(coord_ra, coord_dec), CIRCLE({RA}, {DEC}, 0.005)) = 1",
        "set",
    ),
    (
        f"SELECT objectId FROM dp1.Object WHERE 0 = CONTAINS(POINT(coord_ra, coord_dec), CIRCLE({RA}, {DEC}, 0.01))",
        "set",
    ),
    (
        f"SELECT objectId FROM dp1.Object WHERE 1 = CONTAINS(POINT(coord_ra, coord_dec), BOX({RA}, {DEC}, 0.02, 0.01))",
        "set",
    ),
    (
        f"SELECT objectId FROM dp1.Object WHERE 1 = CONTAINS(POINT(coord_ra, coord_dec), POLYGON({RA - 0.01}, {DEC - 0.01}, {RA + 0.01}, {DEC - 0.01}, {RA}, {DEC + 0.01}))",
        "set",
    ),
    (
        f"SELECT objectId, DISTANCE(POINT(coord_ra, coord_dec), POINT({RA}, {DEC})) AS d FROM dp1.Object WHERE DISTANCE(POINT(coord_ra, coord_dec), POINT({RA}, {DEC})) < 0.008",
        "set",
    ),
    (
        f"SELECT TOP 5 objectId, DISTANCE(POINT(coord_ra, coord_dec), POINT({RA}, {DEC})) AS d FROM dp1.Object ORDER BY d",
        "ordered",
    ),
    (
        "SELECT objectId, COORD1(POINT(coord_ra, coord_dec)), COORD2(POINT(coord_ra, coord_dec)) FROM dp1.Object",
        "set",
    ),
    (f"SELECT AREA(CIRCLE({RA}, {DEC}, 0.1)) FROM dp1.Visit", "set"),
    ("SELECT TOP 3 visit, POINT(ra, dec) AS p FROM dp1.Visit ORDER BY visit", "ordered"),
    (
        f"SELECT COUNT(*) FROM dp1.ForcedSource WHERE 1 = CONTAINS(POINT(coord_ra, coord_dec), CIRCLE({RA}, {DEC}, 0.01))",
        "set",
    ),
    (
        f"SELECT COUNT(*) FROM dp1.Source WHERE 1 = INTERSECTS(CIRCLE({RA}, {DEC}, 0.01), POINT(coord_ra, coord_dec))",
        "set",
    ),
    (
        f"SELECT diaObjectId FROM dp1.DiaObject WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE({RA}, {DEC}, 0.02))",
        "set",
    ),
    (f"SELECT visit FROM dp1.Visit WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE({RA}, {DEC}, 1))", "set"),
    (
        "SELECT objectId FROM dp1.Object WHERE 1 = CONTAINS(POINT(coord_ra, coord_dec), CIRCLE(10, 10, 0.01))",
        "set",
    ),
    # --- scisql UDFs
    ("SELECT objectId, scisql_nanojanskyToAbMag(r_psfFlux) FROM dp1.Object", "set"),
    ("SELECT objectId, scisql_nanojanskyToAbMagSigma(r_psfFlux, r_psfFluxErr) FROM dp1.Object", "set"),
    (f"SELECT objectId, scisql_angSep(coord_ra, coord_dec, {RA}, {DEC}) FROM dp1.Object", "set"),
    (
        f"SELECT objectId FROM dp1.Object WHERE scisql_s2PtInCircle(coord_ra, coord_dec, {RA}, {DEC}, 0.01) = 1",
        "set",
    ),
    (
        f"SELECT objectId FROM dp1.Object WHERE scisql_s2PtInBox(coord_ra, coord_dec, {RA - 0.01}, {DEC - 0.01}, {RA + 0.01}, {DEC + 0.01}) = 1",
        "set",
    ),
    (
        f"SELECT objectId FROM dp1.Object WHERE scisql_s2PtInCPoly(coord_ra, coord_dec, {RA - 0.01}, {DEC - 0.01}, {RA + 0.01}, {DEC - 0.01}, {RA}, {DEC + 0.01}) = 1",
        "set",
    ),
    (f"SELECT objectId FROM dp1.Object WHERE scisql_angSep(coord_ra, coord_dec, {RA}, {DEC}) < 0.006", "set"),
    ("SELECT band, AVG(scisql_nanojanskyToAbMag(psfFlux)) FROM dp1.ForcedSource GROUP BY band", "set"),
    # --- aggregates
    ("SELECT COUNT(*) FROM dp1.Object", "set"),
    ("SELECT COUNT(*) FROM dp1.ForcedSource", "set"),
    ("SELECT COUNT(u_psfMag), COUNT(*) FROM dp1.Object", "set"),
    ("SELECT SUM(psfFlux), AVG(psfFlux), MIN(psfFlux), MAX(psfFlux) FROM dp1.ForcedSource", "set"),
    ("SELECT MIN(objectId), MAX(objectId), SUM(tract) FROM dp1.Object", "set"),
    ("SELECT AVG(detector), SUM(detector) FROM dp1.Source", "set"),
    ("SELECT MAX(r_psfMag) - MIN(r_psfMag) FROM dp1.Object", "set"),
    ("SELECT COUNT(*) FROM dp1.Object WHERE r_psfMag > 99", "set"),
    ("SELECT MAX(r_psfMag), AVG(r_psfMag) FROM dp1.Object WHERE r_psfMag > 99", "set"),
    ("SELECT COUNT(DISTINCT band) FROM dp1.ForcedSource", "set"),
    ("SELECT COUNT(DISTINCT visit), MIN(psfFlux) FROM dp1.ForcedSource", "set"),
    ("SELECT band, COUNT(DISTINCT objectId) FROM dp1.ForcedSource GROUP BY band", "set"),
    ("SELECT COUNT(DISTINCT objectId), COUNT(*) FROM dp1.ForcedSource", "set"),
    ("SELECT band, COUNT(*) FROM dp1.ForcedSource GROUP BY band", "set"),
    ("SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band ORDER BY band", "ordered"),
    ("SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band ORDER BY n DESC, band", "ordered"),
    ("SELECT band, AVG(psfFlux) AS f, MIN(psfFlux), MAX(psfFlux) FROM dp1.ForcedSource GROUP BY band", "set"),
    ("SELECT band, SUM(psfFlux) / COUNT(*) FROM dp1.ForcedSource GROUP BY band", "set"),
    ("SELECT band, COUNT(*) FROM dp1.ForcedSource GROUP BY band HAVING COUNT(*) > 1400", "set"),
    (
        "SELECT band, AVG(psfFlux) FROM dp1.ForcedSource GROUP BY band HAVING AVG(psfFlux) > 20000 ORDER BY band",
        "ordered",
    ),
    ("SELECT objectId, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY objectId", "set"),
    (
        "SELECT TOP 10 objectId, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY objectId ORDER BY n DESC, objectId",
        "ordered",
    ),
    ("SELECT objectId, band, AVG(psfFlux), COUNT(*) FROM dp1.ForcedSource GROUP BY objectId, band", "set"),
    ("SELECT visit, COUNT(*) FROM dp1.ForcedSource GROUP BY visit ORDER BY visit", "ordered"),
    ("SELECT refBand, COUNT(*), AVG(r_psfMag) FROM dp1.Object GROUP BY refBand", "set"),
    ("SELECT tract, patch, COUNT(*) FROM dp1.Object GROUP BY tract, patch ORDER BY tract, patch", "ordered"),
    ("SELECT band, COUNT(*) + 1, MAX(psfFlux) / 2 FROM dp1.ForcedSource GROUP BY band", "set"),
    ("SELECT DISTINCT COUNT(*) FROM dp1.ForcedSource GROUP BY band", "set"),
    ("SELECT band, MIN(visit) FROM dp1.Visit GROUP BY band", "set"),
    ("SELECT detector, COUNT(*) FROM dp1.CcdVisit GROUP BY detector HAVING MIN(seeing) > 0", "set"),
    ("SELECT FLOOR(r_psfMag) AS m, COUNT(*) FROM dp1.Object GROUP BY FLOOR(r_psfMag) ORDER BY m", "ordered"),
    # --- director / dependent joins
    (
        "SELECT o.objectId, f.forcedSourceId, f.psfFlux FROM dp1.Object AS o JOIN dp1.ForcedSource AS f ON o.objectId = f.objectId",
        "set",
    ),
    (
        "SELECT o.objectId, s.sourceId FROM dp1.Object AS o INNER JOIN dp1.Source AS s ON s.objectId = o.objectId",
        "set",
    ),
    (
        "SELECT o.objectId, s.sourceId FROM dp1.Object AS o LEFT JOIN dp1.Source AS s ON s.objectId = o.objectId",
        "set",
    ),
    (
        "SELECT o.objectId, s.sourceId FROM dp1.Object AS o LEFT OUTER JOIN dp1.Source AS s ON s.objectId = o.objectId AND s.band = 'r'",
        "set",
    ),
    (
        "SELECT o.objectId FROM dp1.Object AS o LEFT JOIN dp1.Source AS s ON s.objectId = o.objectId WHERE s.sourceId IS NULL",
        "set",
    ),
    (
        "SELECT o.objectId, f.band FROM dp1.Object o, dp1.ForcedSource f WHERE o.objectId = f.objectId AND f.band = 'g'",
        "set",
    ),
    (
        "SELECT f.objectId, f.psfFlux FROM dp1.ForcedSource AS f JOIN dp1.Object AS o USING (objectId) WHERE o.r_psfMag < 22",
        "set",
    ),
    (
        "SELECT o.objectId, COUNT(*) FROM dp1.Object AS o JOIN dp1.ForcedSource AS f ON o.objectId = f.objectId GROUP BY o.objectId",
        "set",
    ),
    (
        "SELECT f.band, AVG(f.psfFlux), COUNT(*) FROM dp1.Object AS o JOIN dp1.ForcedSource AS f ON o.objectId = f.objectId WHERE o.r_extendedness < 0.5 GROUP BY f.band",
        "set",
    ),
    (
        "SELECT TOP 10 o.objectId, f.psfFlux FROM dp1.Object AS o JOIN dp1.ForcedSource AS f ON o.objectId = f.objectId ORDER BY f.psfFlux DESC, f.forcedSourceId",
        "ordered",
    ),
    (
        "SELECT s.sourceId, f.forcedSourceId FROM dp1.Source AS s JOIN dp1.ForcedSource AS f ON s.objectId = f.objectId AND s.visit = f.visit",
        "set",
    ),
    (
        "SELECT o.objectId, s.sourceId, f.forcedSourceId FROM dp1.Object AS o JOIN dp1.Source AS s ON s.objectId = o.objectId JOIN dp1.ForcedSource AS f ON f.objectId = o.objectId AND f.visit = s.visit",
        "set",
    ),
    (
        "SELECT d.diaObjectId, s.diaSourceId, s.psfFlux FROM dp1.DiaObject AS d JOIN dp1.DiaSource AS s ON d.diaObjectId = s.diaObjectId",
        "set",
    ),
    (
        "SELECT d.diaObjectId, COUNT(*) FROM dp1.DiaObject AS d JOIN dp1.ForcedSourceOnDiaObject AS f ON d.diaObjectId = f.diaObjectId GROUP BY d.diaObjectId",
        "set",
    ),
    (
        "SELECT d.diaObjectId, f.band FROM dp1.DiaObject AS d LEFT JOIN dp1.ForcedSourceOnDiaObject AS f ON d.diaObjectId = f.diaObjectId",
        "set",
    ),
    (
        "SELECT s.diaSourceId, d.nDiaSources FROM dp1.DiaSource AS s LEFT JOIN dp1.DiaObject AS d ON d.diaObjectId = s.diaObjectId",
        "set",
    ),
    (
        "SELECT f.forcedSourceId, o.r_psfMag FROM dp1.ForcedSource AS f JOIN dp1.Object AS o ON o.objectId = f.objectId WHERE f.psfFlux > 5000",
        "set",
    ),
    (
        f"SELECT o.objectId, f.psfFlux FROM dp1.Object AS o JOIN dp1.ForcedSource AS f ON o.objectId = f.objectId WHERE 1 = CONTAINS(POINT(o.coord_ra, o.coord_dec), CIRCLE({RA}, {DEC}, 0.01))",
        "set",
    ),
    (
        f"SELECT o.objectId, f.psfFlux FROM dp1.Object AS o JOIN dp1.ForcedSource AS f ON o.objectId = f.objectId WHERE 1 = CONTAINS(POINT(f.coord_ra, f.coord_dec), CIRCLE({RA}, {DEC}, 0.008))",
        "set",
    ),
    (
        "SELECT o1.objectId FROM dp1.Object AS o1 JOIN dp1.Object AS o2 ON o1.objectId = o2.objectId WHERE o2.r_psfMag < 22",
        "set",
    ),
    # --- broadcast joins
    (
        "SELECT f.forcedSourceId, v.airmass FROM dp1.ForcedSource AS f JOIN dp1.Visit AS v ON f.visit = v.visit",
        "set",
    ),
    (
        "SELECT v.band, COUNT(*) FROM dp1.ForcedSource AS f JOIN dp1.Visit AS v ON f.visit = v.visit GROUP BY v.band",
        "set",
    ),
    (
        "SELECT f.forcedSourceId, c.seeing FROM dp1.ForcedSource AS f JOIN dp1.CcdVisit AS c ON c.visitId = f.visit AND c.detector = f.detector",
        "set",
    ),
    (
        "SELECT f.forcedSourceId, v.expMidptMJD FROM dp1.ForcedSource AS f LEFT JOIN dp1.Visit AS v ON f.visit = v.visit AND v.airmass > 1.2",
        "set",
    ),
    (
        "SELECT v.visit, f.forcedSourceId FROM dp1.Visit AS v JOIN dp1.ForcedSource AS f ON f.visit = v.visit WHERE v.band = 'r'",
        "set",
    ),
    (
        "SELECT v.visit, COUNT(f.forcedSourceId) FROM dp1.Visit AS v LEFT JOIN dp1.ForcedSource AS f ON f.visit = v.visit GROUP BY v.visit",
        "set",
    ),
    (
        "SELECT o.objectId, r.source_id, DISTANCE(POINT(o.coord_ra, o.coord_dec), POINT(r.ra, r.dec)) AS d FROM dp1.Object AS o JOIN dp1.Reference AS r ON DISTANCE(POINT(o.coord_ra, o.coord_dec), POINT(r.ra, r.dec)) < 0.0003",
        "set",
    ),
    (
        "SELECT o.objectId, r.source_id FROM dp1.Object AS o JOIN dp1.Reference AS r ON 1 = CONTAINS(POINT(o.coord_ra, o.coord_dec), CIRCLE(r.ra, r.dec, 0.0003))",
        "set",
    ),
    (
        "SELECT a.objectId, b.objectId FROM dp1.Object AS a JOIN dp1.Object AS b ON DISTANCE(POINT(a.coord_ra, a.coord_dec), POINT(b.coord_ra, b.coord_dec)) < 0.0005 WHERE a.objectId < b.objectId",
        "set",
    ),
    (
        "SELECT d.diaObjectId, o.objectId FROM dp1.DiaObject AS d JOIN dp1.Object AS o ON DISTANCE(POINT(d.ra, d.dec), POINT(o.coord_ra, o.coord_dec)) < 0.0003",
        "set",
    ),
    (
        "SELECT f.forcedSourceId, v.band, c.seeing FROM dp1.ForcedSource AS f JOIN dp1.Visit AS v ON f.visit = v.visit JOIN dp1.CcdVisit AS c ON c.visitId = f.visit AND c.detector = f.detector WHERE f.psfFlux > 2000",
        "set",
    ),
    # --- subqueries, UNION, CTE
    (
        "SELECT objectId FROM dp1.Object WHERE objectId IN (SELECT objectId FROM dp1.Source WHERE psfFlux > 5000)",
        "set",
    ),
    ("SELECT objectId FROM dp1.Object WHERE objectId NOT IN (SELECT objectId FROM dp1.Source)", "set"),
    (
        "SELECT COUNT(*) FROM dp1.ForcedSource WHERE visit IN (SELECT visit FROM dp1.Visit WHERE band = 'g')",
        "set",
    ),
    ("SELECT objectId FROM dp1.Object WHERE r_psfMag < (SELECT AVG(r_psfMag) FROM dp1.Object)", "set"),
    (
        "SELECT o.objectId FROM dp1.Object AS o WHERE EXISTS (SELECT 1 FROM dp1.Source AS s WHERE s.objectId = o.objectId AND s.band = 'i')",
        "set",
    ),
    (
        "SELECT o.objectId FROM dp1.Object AS o WHERE NOT EXISTS (SELECT * FROM dp1.ForcedSource AS f WHERE f.objectId = o.objectId)",
        "set",
    ),
    ("SELECT visit FROM dp1.Visit WHERE EXISTS (SELECT * FROM dp1.DiaSource WHERE band = 'z')", "set"),
    (
        "SELECT objectId FROM dp1.Object WHERE r_psfMag < 21 UNION SELECT objectId FROM dp1.Object WHERE g_psfMag < 21",
        "set",
    ),
    (
        "SELECT objectId FROM dp1.Object WHERE r_psfMag < 21 UNION ALL SELECT objectId FROM dp1.Object WHERE g_psfMag < 21",
        "set",
    ),
    ("SELECT band FROM dp1.Visit UNION SELECT band FROM dp1.DiaSource ORDER BY band", "ordered"),
    ("SELECT objectId FROM dp1.Object EXCEPT SELECT objectId FROM dp1.Source", "set"),
    ("SELECT objectId FROM dp1.Object INTERSECT SELECT objectId FROM dp1.ForcedSource", "set"),
    (
        "WITH bright AS (SELECT objectId, r_psfMag FROM dp1.Object WHERE r_psfMag < 22) SELECT COUNT(*) FROM bright",
        "set",
    ),
    (
        "WITH b AS (SELECT objectId FROM dp1.Object WHERE r_psfMag < 22) SELECT f.objectId, f.psfFlux FROM dp1.ForcedSource AS f JOIN b ON b.objectId = f.objectId",
        "set",
    ),
    (
        "WITH c AS (SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band) SELECT band, n FROM c WHERE n > 1400 ORDER BY band",
        "ordered",
    ),
    ("SELECT x.objectId FROM (SELECT objectId, r_psfMag FROM dp1.Object) AS x WHERE x.r_psfMag < 22", "set"),
    (
        "SELECT t.band, t.n FROM (SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band) AS t ORDER BY t.band",
        "ordered",
    ),
    ("SELECT s.objectId FROM dp1.Source AS s RIGHT JOIN dp1.Object AS o ON s.objectId = o.objectId", "set"),
    (
        "SELECT o.objectId, s.sourceId FROM dp1.Object AS o FULL OUTER JOIN dp1.Source AS s ON s.objectId = o.objectId",
        "set",
    ),
    (
        "SELECT TOP 5 * FROM dp1.Object WHERE objectId IN (SELECT TOP 3 objectId FROM dp1.Object ORDER BY r_psfMag) ORDER BY objectId",
        "ordered",
    ),
    ("SELECT objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag DESC, objectId OFFSET 10", "ordered"),
]

# --- template expansions ------------------------------------------------------------------------
_BANDS = "ugrizy"
_RADII = (0.002, 0.006, 0.012, 0.03)
_CENTRES = ((RA, DEC), (RA - 0.015, DEC + 0.01), (RA + 0.02, DEC - 0.015))

_CONES = [
    (
        f"SELECT objectId, coord_ra, coord_dec FROM dp1.Object WHERE 1 = CONTAINS(POINT(coord_ra, coord_dec), "
        f"CIRCLE({ra}, {dec}, {r}))",
        "set",
    )
    for ra, dec in _CENTRES
    for r in _RADII
]
_CONE_JOINS = [
    (
        f"SELECT o.objectId, COUNT(*), AVG(f.psfFlux) FROM dp1.Object AS o JOIN dp1.ForcedSource AS f "
        f"ON o.objectId = f.objectId WHERE 1 = CONTAINS(POINT(o.coord_ra, o.coord_dec), CIRCLE({ra}, {dec}, {r})) "
        "GROUP BY o.objectId",
        "set",
    )
    for ra, dec in _CENTRES
    for r in _RADII[1:]
]
_BOXES = [
    (
        f"SELECT COUNT(*) FROM dp1.Source WHERE 1 = CONTAINS(POINT(coord_ra, coord_dec), BOX({ra}, {dec}, {w}, {w / 2}))",
        "set",
    )
    for ra, dec in _CENTRES
    for w in (0.01, 0.03)
]
_PER_BAND = [
    (f"SELECT objectId, {b}_psfMag, {b}_psfMagErr FROM dp1.Object WHERE {b}_psfMag < {m}", "set")
    for b in _BANDS
    for m in (22, 24)
]
_BAND_AGG = [
    (
        f"SELECT COUNT(*), AVG({b}_psfMag), MIN({b}_psfMag), MAX({b}_psfMag), SUM({b}_psfFlux) FROM dp1.Object "
        f"WHERE {b}_psfMag IS NOT NULL",
        "set",
    )
    for b in _BANDS
]
_FS_BAND = [
    (
        f"SELECT objectId, COUNT(*) AS n, AVG(psfFlux) FROM dp1.ForcedSource WHERE band = '{b}' GROUP BY objectId "
        "HAVING COUNT(*) >= 2",
        "set",
    )
    for b in _BANDS
]
_TOPS = [
    (f"SELECT TOP {n} objectId, {b}_psfMag FROM dp1.Object ORDER BY {b}_psfMag {d}, objectId", "ordered")
    for n in (1, 25)
    for b in "gri"
    for d in ("ASC", "DESC")
]
_COLOURS = [
    (
        f"SELECT objectId FROM dp1.Object WHERE {a}_psfMag - {b}_psfMag BETWEEN {lo} AND {lo + 0.5}",
        "set",
    )
    for a, b in (("g", "r"), ("r", "i"), ("i", "z"))
    for lo in (-0.5, 0.0, 0.5)
]
_JOIN_BAND = [
    (
        f"SELECT o.objectId, f.visit, f.psfFlux FROM dp1.Object AS o JOIN dp1.ForcedSource AS f "
        f"ON o.objectId = f.objectId WHERE f.band = '{b}' AND o.{b}_psfMag < 23",
        "set",
    )
    for b in _BANDS
]
_DIA = [
    (f"SELECT diaObjectId, {b}_psfFluxMean FROM dp1.DiaObject WHERE {b}_psfFluxNdata > 0", "set")
    for b in _BANDS
]
_VISIT_JOINS = [
    (
        f"SELECT f.band, COUNT(*) FROM dp1.ForcedSource AS f JOIN dp1.Visit AS v ON f.visit = v.visit "
        f"WHERE v.airmass > {a} GROUP BY f.band",
        "set",
    )
    for a in (1.0, 1.1, 1.2, 1.3)
]
_MAXREC_SAFE = [
    (f"SELECT forcedSourceId FROM dp1.ForcedSource WHERE psfFlux > {x}", "set") for x in (0, 500, 5000, 50000)
]

CORPUS: list[tuple[str, str]] = [
    *_HAND,
    *_CONES,
    *_CONE_JOINS,
    *_BOXES,
    *_PER_BAND,
    *_BAND_AGG,
    *_FS_BAND,
    *_TOPS,
    *_COLOURS,
    *_JOIN_BAND,
    *_DIA,
    *_VISIT_JOINS,
    *_MAXREC_SAFE,
]
