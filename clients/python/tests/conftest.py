"""Fixtures: a live ``dotation serve`` on a free loopback port, in a temporary data
directory, with two users (alice and bob) and a static token acting as alice; the
synthetic survey written by ``dotation generate``; connections of both users.

The binary is ``$DOTATION_BIN``, else the repository's ``target/release/dotation``
(``cargo build --release -p dotation-server``).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from dotation import Dotation

REPO = Path(__file__).resolve().parents[3]
PASSWORDS = {"alice": "alice-" + secrets.token_hex(8), "bob": "bob-" + secrets.token_hex(8)}
ALICE_TOKEN = secrets.token_hex(16)


def dotation_bin() -> Path:
    path = Path(os.environ.get("DOTATION_BIN") or REPO / "target" / "release" / "dotation")
    if not os.access(path, os.X_OK):
        pytest.exit(
            f"{path} is not an executable: build it (cargo build --release -p dotation-server) "
            "or set DOTATION_BIN",
            returncode=2,
        )
    return path.resolve()


def run(*args: object) -> str:
    """Runs the dotation binary; its standard output."""
    out = subprocess.run(
        [str(dotation_bin()), *map(str, args)], check=True, capture_output=True, text=True
    )
    return out.stdout


class Server:
    """A ``dotation serve`` process over a data directory, started and stopped at will
    (a restart keeps the data directory)."""

    def __init__(self, folder: Path, max_running_jobs: int = 1) -> None:
        self.folder = folder
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.url = ""
        hashes = {
            user: subprocess.run(
                [str(dotation_bin()), "serve", "--hash-password"],
                input=password + "\n",
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            for user, password in PASSWORDS.items()
        }
        users = "".join(
            f'[[auth.users]]\nname = "{u}"\npassword_hash = "{h}"\n\n' for u, h in hashes.items()
        )
        token = hashlib.sha256(ALICE_TOKEN.encode()).hexdigest()
        (folder / "server.toml").write_text(
            'listen = "127.0.0.1:0"\n'
            'data_dir = "data"\n\n'
            f"[limits]\nmax_running_jobs = {max_running_jobs}\n\n"
            f"{users}"
            f'[[auth.tokens]]\nuser = "alice"\nsha256 = "{token}"\n'
        )

    @property
    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")

    def start(self) -> None:
        log = open(self.folder / "server.log", "wb")
        self.process = subprocess.Popen(
            [str(dotation_bin()), "serve", "--config", str(self.folder / "server.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"listening on (grpc://[0-9.:]+)", self.log)
            if m:
                self.url = m.group(1)
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"dotation serve exited:\n{self.log}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dotation serve did not start:\n{self.log}")

    def stop(self) -> None:
        """Stops the server as Ctrl-C would (SIGTERM), and waits."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"dotation serve did not stop on SIGTERM:\n{self.log}")
        finally:
            self.process = None

    def connect(self, user: str) -> Dotation:
        return Dotation(self.url, user=user, password=PASSWORDS[user])


@pytest.fixture(scope="session")
def survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic survey (437 services, seeded), as Parquet files."""
    folder = tmp_path_factory.mktemp("survey")
    run("--quiet", "generate", "--out", folder)
    return folder


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The live server of the session (one job runs at a time, so that a second one
    waits in the queue)."""
    s = Server(tmp_path_factory.mktemp("server"))
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def alice(server: Server) -> Iterator[Dotation]:
    with server.connect("alice") as d:
        yield d


@pytest.fixture(scope="session")
def bob(server: Server) -> Iterator[Dotation]:
    with server.connect("bob") as d:
        yield d


@pytest.fixture(scope="session")
def survey_dataset(alice: Dotation, survey: Path) -> str:
    """Alice's dataset ``survey``: the survey's folder uploaded."""
    summary = alice.upload("survey", survey)
    assert summary.complete and summary.visits, summary
    return "survey"


@pytest.fixture(scope="session")
def passwords() -> Dict[str, str]:
    """The users' passwords."""
    return PASSWORDS


@pytest.fixture(scope="session")
def alice_token() -> str:
    """The static token of the configuration, acting as alice."""
    return ALICE_TOKEN


@pytest.fixture
def new_server(tmp_path: Path) -> Iterator[Callable[[], Server]]:
    """Makes servers of their own (a fresh data directory each), stopped at the end."""
    made: List[Server] = []

    def make() -> Server:
        folder = tmp_path / f"server-{len(made)}"
        folder.mkdir()
        made.append(Server(folder))
        return made[-1]

    yield make
    for s in made:
        s.stop()


@pytest.fixture(scope="session")
def cli() -> Callable[..., str]:
    """Runs the dotation binary (its standard output)."""
    return run


@pytest.fixture(scope="session")
def census_dataset(alice: Dotation, survey: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Alice's dataset ``census``: the survey without visits, from a folder holding one
    table of each format (CSV, Arrow IPC, Parquet)."""
    folder = tmp_path_factory.mktemp("census")
    pacsv.write_csv(pq.read_table(survey / "departements.parquet"), folder / "departements.csv")
    services = pq.read_table(survey / "services.parquet")
    with ipc.new_file(folder / "services.arrow", services.schema) as w:
        w.write_table(services)
    shutil.copy(survey / "users.parquet", folder / "users.parquet")
    summary = alice.upload("census", folder)
    assert summary.complete and not summary.visits, summary
    return "census"
