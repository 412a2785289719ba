"""The one ADQL query engine: notebooks call it directly, the TAP service calls it unchanged.

>>> from kernel_lib.engine import Engine
>>> eng = Engine("releases/demo")  # doctest: +SKIP
>>> res = eng.adql("SELECT band, COUNT(*) FROM dp1.ForcedSource GROUP BY band", maxrec=1000)  # doctest: +SKIP
>>> res.table, res.overflow  # doctest: +SKIP
>>> print(eng.explain("SELECT TOP 10 * FROM dp1.Object ORDER BY r_psfMag"))  # doctest: +SKIP

Layout:

* :mod:`.engine`  -- :class:`Engine`, :class:`QueryResult`, :func:`adql` (``$LSSTBOX_RELEASE``), execution;
* :mod:`.planner` -- classification (partitioned / global / set operation), spatial pruning, EXPLAIN;
* :mod:`.merge`   -- per-partition query and final merge (top-k, partial aggregates, DISTINCT);
* :mod:`.source`  -- tables as DuckDB views over leaves, row-group pruned Arrow, the reference executor.
"""

from __future__ import annotations

from .engine import RELEASE_ENV, Engine, QueryCancelledError, QueryResult, ResultTooLargeError, adql
from .planner import Plan
from .source import reference_adql

__all__ = [
    "RELEASE_ENV",
    "Engine",
    "Plan",
    "QueryCancelledError",
    "QueryResult",
    "ResultTooLargeError",
    "adql",
    "reference_adql",
]
