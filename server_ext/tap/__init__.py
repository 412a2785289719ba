"""The TAP 1.1 service of the box: sync and async (UWS 1.1) ADQL queries over the release,
VOSI, TAP_SCHEMA, uploads, and streamed VOTable/CSV/Parquet results."""
