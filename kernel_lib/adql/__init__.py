"""The ADQL 2.1 front end of the query engine.

Public API::

    parse(text) -> sqlglot tree            # grammar only (AdqlSyntaxError with line/column/token)
    validate(text_or_tree, udfs=...)       # strict ADQL 2.1 (what sqlglot alone accepts too much of)
    resolve(text_or_tree, schema)          # tables/columns against a schema, simple type checks
    to_duckdb(text_or_tree) -> str         # DuckDB SQL: geometry as spherical math, TOP -> LIMIT
    spatial_constraints(text_or_tree)      # cones/boxes/polygons of the WHERE clause, for pruning

Layout:

* :mod:`.errors`    -- AdqlError > AdqlSyntaxError, AdqlSemanticError (> UnknownTableError,
  UnknownColumnError, AdqlTypeError), UnsupportedFeatureError;
* :mod:`.nodes`     -- ADQL's geometry functions and IN_UNIT as sqlglot expression classes;
* :mod:`.dialect`   -- ``Adql``, the sqlglot dialect (tokenizer, parser, generator tables);
* :mod:`.validate`  -- lexical/structural ADQL rules, the UDF registry, :func:`parse`, :func:`validate`;
* :mod:`.resolve`   -- schema resolution with difflib suggestions and type checks;
* :mod:`.geometry`  -- spherical SQL for the geometry, spatial constraint extraction;
* :mod:`.translate` -- ADQL tree -> DuckDB SQL;
* :mod:`.check`     -- ``python -m kernel_lib.adql.check`` (query on stdin, exit 0 if valid).
"""

from __future__ import annotations

from .dialect import Adql
from .errors import (
    AdqlError,
    AdqlSemanticError,
    AdqlSyntaxError,
    AdqlTypeError,
    UnknownColumnError,
    UnknownTableError,
    UnsupportedFeatureError,
)
from .geometry import BoxConstraint, ConeConstraint, PolygonConstraint, SpatialConstraint, spatial_constraints
from .resolve import Schema, TableInfo, resolve, schema_from_tables
from .translate import to_duckdb
from .validate import UDFS, Udf, parse, validate

__all__ = [
    "UDFS",
    "Adql",
    "AdqlError",
    "AdqlSemanticError",
    "AdqlSyntaxError",
    "AdqlTypeError",
    "BoxConstraint",
    "ConeConstraint",
    "PolygonConstraint",
    "Schema",
    "SpatialConstraint",
    "TableInfo",
    "Udf",
    "UnknownColumnError",
    "UnknownTableError",
    "UnsupportedFeatureError",
    "parse",
    "resolve",
    "schema_from_tables",
    "spatial_constraints",
    "to_duckdb",
    "validate",
]
