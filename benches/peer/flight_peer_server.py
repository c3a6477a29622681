"""pyarrow's own Flight server, the peer of `dotation serve` in benches/peer/flight.sh: a
FlightServerBase that serves Parquet files by name, reading the file at each DoGet as
dotation does, and stores each DoPut upload as an Arrow IPC file in a temporary folder,
batch by batch as it arrives (as dotation stores an upload, less the validation). Prints
its port, then serves until killed.

    python flight_peer_server.py NAME=FILE.parquet ...
"""

import sys
import tempfile
from pathlib import Path

import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pyarrow.parquet as pq


class ParquetServer(flight.FlightServerBase):
    def __init__(self, files):
        super().__init__("grpc://127.0.0.1:0")
        self.files = files
        self.uploads = tempfile.TemporaryDirectory()

    def do_put(self, context, descriptor, reader, writer):
        name = "-".join(p.decode() for p in descriptor.path) or "upload"
        with ipc.new_file(Path(self.uploads.name) / f"{name}.arrow", reader.schema) as out:
            for chunk in reader:
                out.write_batch(chunk.data)

    def do_get(self, context, ticket):
        table = pq.read_table(self.files[ticket.ticket.decode()])
        return flight.RecordBatchStream(table)


if __name__ == "__main__":
    files = dict(arg.split("=", 1) for arg in sys.argv[1:])
    server = ParquetServer(files)
    print(server.port, flush=True)
    server.serve()
