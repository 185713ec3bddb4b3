"""Server CPU per arrival, this tree against a peer tree, measured in the same run.

Two real server processes (SQLite, started as bench/load.py starts them): one from this
working tree, one from ``--peer`` (another checkout, e.g. ``git worktree add /tmp/peer main``);
each gets its own database with the same stores, members (with enrolment photos) and two
tablets a store. Then, alternately, each gets ``--phases`` phases of arrivals at ``--rate``
for ``--seconds`` (open loop, keep-alive connections, every event a new visit and a card to
both tablets of its store), and the server's CPU time (utime + stime of its process from
/proc) over each phase is divided by the events it accepted. Interleaving the two keeps
their figures comparable on a machine whose load changes under them. Lines:

    arrival_cpu: tree=<this|peer> cpu_ms_per_event=<median> phases=<n> cards=<received/expected>
    arrival_cpu_ratio: this_vs_peer=<x>

CPU time per event survives a loaded machine far better than wall time; the rate is modest
so that neither server is saturated (a saturated server batches more, which flatters it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from load import (  # noqa: E402  (bench/ is this script's own directory)
    PASSWORD,
    DeviceSocket,
    RawHTTP,
    ServerCPU,
    StoreSetup,
    cpu_split,
    event,
    pin_tree,
    prepare,
    started_on,
    thumbnail_jpeg,
)

from server.serve import start_server_process  # noqa: E402
from server.settings import ServerSettings  # noqa: E402


@dataclass
class Tree:
    name: str
    root: Path
    proc: subprocess.Popen[bytes] | None = None
    base: str = ""
    setups: list[StoreSetup] = field(default_factory=list)
    transport: str = "socket"
    """How its devices send arrivals (bench/load.py's ``--transport``)."""
    sockets: dict[str, DeviceSocket] = field(default_factory=dict)
    own_prepare: bool = False
    """Prepare this tree's database with the tree's own ``bench/load.py`` (in a subprocess):
    a peer from before a schema change cannot run on a database this tree's code made."""
    cpu_ms: list[float] = field(default_factory=list)
    loop_ms: list[float] = field(default_factory=list)
    """Of ``cpu_ms``: the event loop's thread (HTTP, FastAPI, WebSocket sends); the rest is
    the arrival writer's and the thread pool's."""
    cards: int = 0
    expected: int = 0


def main_thread_cpu_s(pid: int) -> float:
    """CPU seconds of a process's main thread (the one whose id is the process id: uvicorn's
    event loop)."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_PREPARE_IN = """
import json, sys
from pathlib import Path
sys.path.insert(0, "bench")
from load import prepare, thumbnail_jpeg
from server.settings import ServerSettings
data_dir, faces = Path(sys.argv[1]), Path(sys.argv[4])
settings = ServerSettings(data_dir=data_dir, environment="test")
setups = prepare(settings, int(sys.argv[2]), int(sys.argv[3]), thumbnail_jpeg(faces))
print("SETUPS " + json.dumps([[s.code, s.enrol_code, s.members] for s in setups]))
"""


def prepare_in(
    root: Path, env: dict[str, str], data_dir: Path, stores: int, members: int, faces: Path
) -> list[StoreSetup]:
    """The stores, members and salespeople of ``prepare``, made by another tree's own code."""
    out = subprocess.run(
        [sys.executable, "-c", _PREPARE_IN, str(data_dir), str(stores), str(members),
         str(faces.resolve())],
        cwd=root, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("SETUPS "))
    return [
        StoreSetup(code, enrol, [(m[0], m[1]) for m in ms])
        for code, enrol, ms in json.loads(line.removeprefix("SETUPS "))
    ]


async def connect(tree: Tree, tablets_per_store: int, stack: contextlib.AsyncExitStack) -> None:
    async with httpx.AsyncClient(base_url=tree.base, timeout=30) as http:
        import base64

        from consent.device import DeviceKeyPair

        for s in tree.setups:
            keys = DeviceKeyPair.generate()
            r = await http.post(
                "/api/v1/devices/register",
                json={"enrolment_code": s.enrol_code, "name": "door",
                      "public_key": base64.b64encode(keys.public_bytes()).decode()},
            )  # fmt: skip
            r.raise_for_status()
            s.token = r.json()["token"]
            if tree.transport == "socket":
                tree.sockets[s.token] = await DeviceSocket.open(tree.base, s.token)
        cookies = []
        for i in range(len(tree.setups)):
            r = await http.post(
                "/api/v1/auth/login", json={"username": f"sales{i}", "password": PASSWORD}
            )
            r.raise_for_status()
            cookies.append(r.cookies["vt_session"])
    url = tree.base.replace("http://", "ws://") + "/ws/tablet"

    async def listen(ws: websockets.ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                if json.loads(raw).get("type") == "arrival":
                    tree.cards += 1

    for cookie in cookies:
        for _ in range(tablets_per_store):
            ws = await stack.enter_async_context(
                websockets.connect(url, additional_headers={"Cookie": f"vt_session={cookie}"})
            )
            await ws.recv()  # hello
            task = asyncio.create_task(listen(ws))
            stack.callback(task.cancel)


async def phase(tree: Tree, queue: list[tuple[StoreSetup, str]], rate: float,
                seconds: float, tablets_per_store: int) -> None:  # fmt: skip
    assert tree.proc is not None
    cpu = ServerCPU(tree.proc.pid)
    total = int(rate * seconds)
    mine = [queue.pop() for _ in range(total)]
    ok = 0
    # fresh keep-alive connections each phase (the server closes idle ones after 5 s)
    raw = RawHTTP("127.0.0.1", int(tree.base.rsplit(":", 1)[1]), connections=16)
    await raw.open()

    async def post(s: StoreSetup, subject: str) -> None:
        nonlocal ok
        if tree.transport == "socket":
            status, answered = await tree.sockets[s.token].send([event(subject)])
            if status == 202 and answered["accepted"] == 1:
                ok += 1
            return
        body = json.dumps({"events": [event(subject)]}).encode()
        status, answer = await raw.post(
            "/api/v1/device/events", body, {"Authorization": f"Bearer {s.token}"}
        )
        if status == 202 and json.loads(answer)["accepted"] == 1:
            ok += 1

    before, loop_before = cpu.cpu_s(), main_thread_cpu_s(tree.proc.pid)
    loop = asyncio.get_running_loop()
    start = loop.time()
    posts = []
    for n, (s, subject) in enumerate(mine):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        posts.append(asyncio.create_task(post(s, subject)))
    await asyncio.gather(*posts)
    await raw.close()
    # the cards still on their way cost the server too: wait until it is quiet again
    for _ in range(40):
        await asyncio.sleep(0.25)
        if tree.cards >= tree.expected + ok * tablets_per_store:
            break
    tree.expected += ok * tablets_per_store
    tree.cpu_ms.append((cpu.cpu_s() - before) * 1000 / max(ok, 1))
    tree.loop_ms.append((main_thread_cpu_s(tree.proc.pid) - loop_before) * 1000 / max(ok, 1))


async def run(trees: list[Tree], args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for t in trees:
            await connect(t, args.tablets_per_store, stack)
        queues = [
            [(s, m[0]) for s in t.setups for m in s.members] for t in trees
        ]  # fmt: skip
        for q in queues:
            q.sort(key=lambda sm: sm[1])  # stores interleaved, as a chain's arrivals are
        for _ in range(args.phases):
            for t, q in zip(trees, queues, strict=True):
                await phase(t, q, args.rate, args.seconds, args.tablets_per_store)
                print(f"arrival_cpu_phase: tree={t.name} cpu_ms_per_event={t.cpu_ms[-1]:.3f} "
                      f"event_loop_ms={t.loop_ms[-1]:.3f}", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", type=Path, required=True, help="the peer tree's root")
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--phases", type=int, default=5)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--tablets-per-store", type=int, default=2)
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument(
        "--peer-prepares",
        action="store_true",
        help="the peer's database is made by the peer's own bench/load.py (an older schema)",
    )
    parser.add_argument("--transport", choices=("socket", "http"), default="socket")
    parser.add_argument(
        "--peer-transport",
        choices=("socket", "http"),
        default="http",
        help="socket only for a peer whose server takes arrivals on /ws/device",
    )
    args = parser.parse_args()
    split = cpu_split()
    if split is not None:
        os.sched_setaffinity(0, split[0])
    thumbnail = thumbnail_jpeg(args.faces)
    members = int(args.rate * args.seconds * args.phases / args.stores) + 2
    trees = [
        Tree("this", REPO, transport=args.transport),
        Tree("peer", args.peer.resolve(), transport=args.peer_transport,
             own_prepare=args.peer_prepares),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="vt-arrival-cpu-") as tmp:
        try:
            for t in trees:
                data_dir = Path(tmp) / t.name
                env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
                env["VERTROUWD_ENVIRONMENT"] = "test"
                env["PYTHONPATH"] = str(t.root)
                if t.own_prepare:
                    t.setups = prepare_in(t.root, env, data_dir, args.stores, members, args.faces)
                else:
                    settings = ServerSettings(data_dir=data_dir, environment="test")
                    t.setups = prepare(settings, args.stores, members, thumbnail)
                with started_on(split[1] if split else None):
                    t.proc, t.base = start_server_process(env, data_dir, cwd=t.root, timeout=300)
                if split is not None:
                    pin_tree(t.proc.pid, split[1])
            asyncio.run(run(trees, args))
        finally:
            for t in trees:
                if t.proc is not None:
                    t.proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        t.proc.wait(15)
    for t in trees:
        print(f"arrival_cpu: tree={t.name} root={t.root} transport={t.transport} "
              f"cpu_ms_per_event={statistics.median(t.cpu_ms):.3f} "
              f"event_loop_ms={statistics.median(t.loop_ms):.3f} phases={len(t.cpu_ms)} "
              f"cards={t.cards}/{t.expected}", flush=True)  # fmt: skip
    this, peer = (statistics.median(t.cpu_ms) for t in trees)
    print(f"arrival_cpu_ratio: this_vs_peer={this / peer:.2f} (machine shared; medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
