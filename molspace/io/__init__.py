"""Library I/O: stream molecule files in chunks, write result tables atomically.

``read_library`` reads ``.smi``/``.csv``/``.tsv``/``.sdf`` (optionally gzip)
and Parquet files or directories as ``ReadChunk``s of records plus rejects;
``write_table`` writes by extension; ``RejectsWriter`` appends rejected rows.

Stage 2: may import only ``chem`` and the base modules.
"""

from molspace.io.chunk import REJECT_COLUMNS, ReadChunk
from molspace.io.formats import FORMATS, detect_format
from molspace.io.readers import count_records, read_library
from molspace.io.rejects import RejectsWriter
from molspace.io.writers import atomic_path, write_table

__all__ = [
    "FORMATS",
    "REJECT_COLUMNS",
    "ReadChunk",
    "RejectsWriter",
    "atomic_path",
    "count_records",
    "detect_format",
    "read_library",
    "write_table",
]
