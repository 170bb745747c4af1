"""One router per resource: ``monitoring`` (pages and JSON), ``reports`` (files from the
lake), ``catalog`` (dataset versions and lineage)."""
