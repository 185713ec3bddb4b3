"""Instructions per arrival (callgrind), this tree against a peer tree, measured in the same run.

CPU seconds on a shared, loaded machine move with the load (caches, the other hyperthread);
instruction counts do not. Two paths, each in its own process under ``valgrind
--tool=callgrind`` with instrumentation switched on only around the measured events (so start-up
and the database's preparation cost nothing but time):

* ``writer``: the arrival writer alone (``ArrivalWriter._handle`` of one request with one event,
  as at a modest rate: authentication, ingest, commit, card);
* ``http``: a whole request through the app (every middleware, routing, validation, the
  writer thread, the answer), called as ASGI, one request at a time; no uvicorn, sockets or
  tablets (those are the same code in both trees).

Each tree is imported from its own root (``PYTHONPATH``), with its own ``bench/load.py`` to
prepare the database as the load benchmark does (20 stores, members with enrolment photos).
SQLite by default; ``--db postgres`` counts the server's side of PostgreSQL (the database
server itself is not counted). Lines:

    arrival_instructions: path=<writer|http> db=<…> tree=<this|peer> ir_per_event=<n>
    arrival_instructions_ratio: path=<…> db=<…> this_vs_peer=<x>

About a minute a path and tree on two cores (valgrind runs the interpreter 20-50x slower).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve()


def _callgrind(*switch: str) -> None:
    subprocess.run(["callgrind_control", *switch, str(os.getpid())], check=True,
                   capture_output=True)  # fmt: skip


def _tree_load() -> ModuleType:
    """The measured tree's own bench/load.py (its ``prepare``), found from its ``server``."""
    import server

    path = Path(server.__file__).resolve().parents[1] / "bench" / "load.py"
    spec = importlib.util.spec_from_file_location("tree_load", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tree_load"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def child(path: str, db: str, events: int, faces: Path) -> None:
    """Runs under callgrind, importing the tree named by PYTHONPATH."""
    load = _tree_load()
    from consent.device import DeviceKeyPair
    from server.db.session import transaction
    from server.runtime import build_runtime
    from server.services.recognition import devices
    from server.settings import ServerSettings

    warm = 20
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vt-ir-")))
        url = stack.enter_context(load.postgres_db()) if db == "postgres" else None
        settings = ServerSettings(data_dir=tmp, environment="test", database_url=url)
        setups = load.prepare(settings, 20, (events + warm) // 20 + 2, load.thumbnail_jpeg(faces))
        rt = build_runtime(settings)
        stack.callback(rt.close)
        tokens = []
        with transaction(rt.sessions) as session:
            for s in setups:
                reg = devices.register_device(
                    session, code=s.enrol_code, name="door",
                    public_key=DeviceKeyPair.generate().public_bytes(), now=rt.now(),
                )  # fmt: skip
                tokens.append(reg.token)
        queue = sorted(
            ((tokens[i], m[0]) for i, s in enumerate(setups) for m in s.members),
            key=lambda tm: str(tm[1]),
        )
        if path == "writer":
            _writer_path(rt, queue, warm, events)
        else:
            from server.app import create_app

            asyncio.run(_http_path(create_app(settings, runtime=rt), load, queue, warm, events))


def _writer_path(rt: Any, queue: list[tuple[str, str]], warm: int, events: int) -> None:
    from server.services.recognition.arrival_writer import ArrivalWriter, _Job
    from server.services.recognition.arrivals import ArrivalIn

    cards: list[Any] = []
    writer = ArrivalWriter(rt.sessions, kek=rt.kek, publish=cards.extend,
                           visit_live=timedelta(seconds=rt.settings.visit_live_s))  # fmt: skip
    for n in range(warm + events):
        if n == warm:
            _callgrind("-i", "on")
        token, subject = queue.pop()
        event = ArrivalIn(uuid.uuid4().hex, subject, datetime.now(UTC), 0.4, 0.3)
        job = _Job(token, [event], rt.now())
        writer._handle([job])
        if job.future.result().accepted != 1:
            raise SystemExit("an arrival was not accepted")
    _callgrind("-d")
    if len(cards) != warm + events:
        raise SystemExit(f"{len(cards)} cards for {warm + events} arrivals")


async def _http_path(
    app: Any, load: ModuleType, queue: list[tuple[str, str]], warm: int, events: int
) -> None:
    async with app.router.lifespan_context(app):
        for n in range(warm + events):
            if n == warm:
                _callgrind("-i", "on")
            token, subject = queue.pop()
            body = json.dumps({"events": [load.event(subject)]}).encode()
            headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode()),
                       (b"authorization", f"Bearer {token}".encode())]  # fmt: skip
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "POST", "scheme": "http", "path": "/api/v1/device/events",
                "raw_path": b"/api/v1/device/events", "query_string": b"", "root_path": "",
                "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555), "headers": headers,
            }  # fmt: skip
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            answer: list[dict[str, Any]] = []

            async def receive(messages: list[dict[str, Any]] = messages) -> dict[str, Any]:
                if messages:
                    return messages.pop()
                await asyncio.Event().wait()  # the client never goes away
                raise AssertionError

            async def send(message: dict[str, Any], answer: list[dict[str, Any]] = answer) -> None:
                answer.append(message)

            await app(scope, receive, send)
            if answer[0]["status"] != 202 or json.loads(answer[1]["body"])["accepted"] != 1:
                raise SystemExit(f"an arrival was not accepted: {answer}")
        _callgrind("-d")


def measure(tree: Path, path: str, db: str, events: int, faces: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="vt-callgrind-") as out:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
        env["PYTHONPATH"] = str(tree)
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={out}/callgrind.%p", sys.executable, str(HERE),
               "--child", path, "--db", db, "--events", str(events),
               "--faces", str(faces)]  # fmt: skip
        run = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"{tree} {path}: exit {run.returncode}\n{run.stderr[-3000:]}")
        # the dump taken right after the measured events (file name ends in .1): those only
        dumps = list(Path(out).glob("callgrind.*.1"))
        if len(dumps) != 1:
            raise SystemExit(f"expected one callgrind dump, found {dumps}")
        found = re.search(r"^summary: (\d+)$", dumps[0].read_text(), re.MULTILINE)
        if found is None or int(found.group(1)) == 0:
            raise SystemExit(f"{tree} {path}: nothing counted")
        return int(found.group(1)) / events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", type=Path, help="the peer tree's root")
    parser.add_argument("--paths", default="writer,http")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--faces", type=Path, default=HERE.parents[2] / "shared" / "faces")
    parser.add_argument("--child", choices=["writer", "http"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args.events, args.faces)
        return 0
    if args.peer is None:
        parser.error("--peer is required")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("arrival_instructions: skipped (valgrind not installed)")
        return 0
    trees = {"this": HERE.parents[1], "peer": args.peer.resolve()}
    for path in args.paths.split(","):
        ir = {}
        for name, root in trees.items():
            ir[name] = measure(root, path, args.db, args.events, args.faces)
            print(f"arrival_instructions: path={path} db={args.db} tree={name} "
                  f"ir_per_event={ir[name]:.0f}", flush=True)  # fmt: skip
        print(f"arrival_instructions_ratio: path={path} db={args.db} "
              f"this_vs_peer={ir['this'] / ir['peer']:.2f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
