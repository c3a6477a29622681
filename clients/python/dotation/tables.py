"""Tables going to the server: a dataset folder's files, or tables in memory (pyarrow,
pandas, polars, or anything exporting an Arrow stream), turned into the record batches
that one upload sends.

Files are streamed (Parquet by record batches, Arrow IPC by its batches, CSV by blocks),
so uploading a national visits table does not hold it in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, List, Tuple, Union

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

__all__ = ["TABLES", "FRAME_TABLES", "MARGINS", "TableLike", "read_table", "table_file"]

#: The four tables of a dataset, in the order they are uploaded.
TABLES: Tuple[str, ...] = ("departements", "services", "users", "visits")

#: The optional table of the totals a dataset's survey weights are calibrated to
#: (``kind = "weights"``, or ``[weights]`` in any spec), uploaded after the four.
MARGINS = "margins"

#: The tables every dataset needs; visits are optional (census data have none).
FRAME_TABLES: Tuple[str, ...] = ("departements", "services", "users")

_EXTENSIONS = ("parquet", "csv", "arrow")

# Rows of the record batches a Parquet file is streamed in (as pyarrow reads it whole).
PARQUET_BATCH_ROWS = 128 * 1024

#: What ``Dotation.upload`` accepts for one table: a file path, a pyarrow Table,
#: RecordBatch or RecordBatchReader, a pandas or polars DataFrame, or any object with
#: ``__arrow_c_stream__``.
TableLike = Any

PathLike = Union[str, "os.PathLike[str]"]


def table_file(folder: PathLike, name: str) -> Union[Path, None]:
    """The file of table NAME in a dataset folder (``NAME.parquet``, ``NAME.csv`` or
    ``NAME.arrow``), ``None`` if there is none; several are refused, as the server's
    command line refuses them."""
    found = [Path(folder) / f"{name}.{ext}" for ext in _EXTENSIONS]
    found = [p for p in found if p.exists()]
    if len(found) > 1:
        raise ValueError(
            f"{folder}: several files for table {name} ({', '.join(p.name for p in found)}); keep one"
        )
    return found[0] if found else None


def read_table(folder: PathLike, name: str) -> pa.Table:
    """Reads table NAME of a dataset folder whole (``.parquet``, ``.csv`` with every
    column as text — the server types and checks them, as the command line does — or
    ``.arrow``)."""
    path = table_file(folder, name)
    if path is None:
        raise FileNotFoundError(f"{folder}: no {name}.parquet, {name}.csv or {name}.arrow")
    if path.suffix == ".parquet":
        return pq.read_table(path)
    return _open_file(path).read_all()


def _open_file(path: Path) -> pa.RecordBatchReader:
    ext = path.suffix.lstrip(".").lower()
    if ext == "parquet":
        file = pq.ParquetFile(path)
        batches = file.iter_batches(batch_size=PARQUET_BATCH_ROWS)
        return pa.RecordBatchReader.from_batches(file.schema_arrow, batches)
    if ext == "arrow":
        source = pa.memory_map(str(path))
        try:
            reader = ipc.open_file(source)
        except pa.ArrowInvalid:
            # An IPC stream rather than an IPC file.
            source.seek(0)
            return ipc.open_stream(source)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        return pa.RecordBatchReader.from_batches(reader.schema, batches)
    if ext == "csv":
        with open(path, encoding="utf-8-sig") as f:
            header = f.readline().rstrip("\r\n").split(",")
        types = {c.strip().strip('"'): pa.string() for c in header}
        return pacsv.open_csv(
            path,
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
    raise ValueError(f"{path}: not a .parquet, .csv or .arrow file")


def record_batches(data: TableLike) -> Tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and record batches of one table to upload."""
    if isinstance(data, (str, os.PathLike)):
        reader = _open_file(Path(data))
        return reader.schema, iter(reader)
    if isinstance(data, pa.RecordBatchReader):
        return data.schema, iter(data)
    if isinstance(data, pa.RecordBatch):
        return data.schema, iter([data])
    if isinstance(data, pa.Table):
        return data.schema, iter(data.to_batches())
    if type(data).__module__.split(".")[0] == "pandas":
        table = pa.Table.from_pandas(data, preserve_index=False)
        return table.schema, iter(table.to_batches())
    if hasattr(data, "to_arrow"):  # polars
        table = data.to_arrow()
        return table.schema, iter(table.to_batches())
    if hasattr(data, "__arrow_c_stream__"):
        stream = pa.RecordBatchReader.from_stream(data)
        return stream.schema, iter(stream)
    raise TypeError(
        f"cannot upload a {type(data).__name__}: give a file path, a pyarrow Table or "
        "RecordBatchReader, or a pandas or polars DataFrame"
    )


def sliced(batches: Iterator[pa.RecordBatch], max_bytes: int) -> Iterator[pa.RecordBatch]:
    """The batches, each larger than ``max_bytes`` cut into slices of about that size
    (one gRPC message carries one batch, and the server bounds messages)."""
    for batch in batches:
        if batch.nbytes <= max_bytes or batch.num_rows <= 1:
            yield batch
            continue
        rows = max(1, batch.num_rows * max_bytes // batch.nbytes)
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def folder_tables(folder: PathLike) -> List[Tuple[str, Path]]:
    """The tables of a dataset folder to upload, in upload order; the three frame
    tables are required, visits and margins optional (margins last, so that the server
    checks them against the services and users)."""
    if not Path(folder).is_dir():
        raise NotADirectoryError(f"{folder}: not a directory")
    files = [(name, table_file(folder, name)) for name in (*TABLES, MARGINS)]
    missing = [name for name, path in files if path is None and name in FRAME_TABLES]
    if missing:
        raise FileNotFoundError(
            f"{folder}: no file for table {', '.join(missing)} "
            "(expected NAME.parquet, NAME.csv or NAME.arrow)"
        )
    return [(name, path) for name, path in files if path is not None]
