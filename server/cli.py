"""``vertrouwd``: one command line for the server side, dispatching ``edge`` and ``models``.

The edge device has its own entry point (``vertrouwd-edge``) so it runs without server code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from server.services.errors import ServiceError
from server.settings import ServerSettings

if TYPE_CHECKING:
    from server.runtime import Runtime


def _settings(args: argparse.Namespace) -> ServerSettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return ServerSettings.model_validate(overrides)


def _runtime(args: argparse.Namespace) -> Runtime:
    from server.runtime import build_runtime

    return build_runtime(_settings(args))


def cmd_server(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from server.app import create_app
    from server.runtime import build_runtime

    settings = _settings(args)
    if args.workers <= 1:
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            log_level="info",
            access_log=False,  # one log line per request costs CPU and records client IPs
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            backlog=args.backlog,
        )
        return 0
    if not settings.redis_url:
        print("vertrouwd server: --workers > 1 needs VERTROUWD_REDIS_URL", file=sys.stderr)
        return 2
    # Several worker processes share the socket. Migrate and create keys once, here, then
    # let each worker build its own runtime from the same settings (passed via environment).
    build_runtime(settings).close()
    os.environ["VERTROUWD_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["VERTROUWD_DATABASE_URL"] = settings.resolved_database_url
    os.environ["VERTROUWD_MIGRATE_ON_START"] = "false"
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        backlog=args.backlog,
    )
    return 0


def _delivered(rt: Runtime, what: str) -> None:
    """With Redis, wait until the notices a command published have left: the sender thread
    ends with the process, and a go-live, revocation or enrolment must reach the running
    servers' devices and tablets as the console's does. Without Redis there is nobody to tell
    (the devices poll)."""
    if not rt.broker.flush(timeout=10):
        print(f"{what}: some notifications were not delivered (devices poll)", file=sys.stderr)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database to the newest schema and create the keys if missing, then exit."""
    rt = _runtime(args)
    rt.close()
    print("database migrated; keys present")
    return 0


def _zone_arg(text: str, min_face_size: int) -> Any:
    """``X,Y,W,H`` (fractions of the frame) -> a checked ``consent.gallery.MemberZone``."""
    from server.services.errors import BadInput
    from server.services.recognition import signage

    parts = text.split(",")
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise BadInput(
            "--zone: four numbers X,Y,W,H between 0 and 1, e.g. 0.2,0.1,0.6,0.8"
        ) from None
    return signage.checked_zone(x, y, w, h, min_face_size)


def cmd_store(args: argparse.Namespace) -> int:
    from server.db.session import transaction
    from server.services.recognition import devices, signage

    rt = _runtime(args)
    with transaction(rt.sessions) as session:
        if args.store_cmd == "create":
            store = devices.create_store(session, code=args.code, name=args.name, now=rt.now())
            print(f"store {store.code} created (recognition off until go-live)")
        elif args.store_cmd == "go-live":
            from server.services.recognition import golive

            # The console's path (``golive.go_live`` with the same context): the controller
            # check, the false-match bound and the notice to the running servers' devices.
            store = signage.store(session, args.code)
            zone = _zone_arg(
                args.zone, args.min_face_size or golive.DEFAULT_MIN_FACE_SIZE[args.mode]
            )
            version = golive.go_live(
                session,
                rt.context(),
                store=store,
                dpia_reference=args.dpia,
                signage_confirmed=args.signage_confirmed,
                zone=zone,
                mode=args.mode,
                door_acknowledged=args.acknowledge_door_risk,
                actor="cli",
            )
            print(
                f"store {store.code} is live in {args.mode} mode "
                f"(DPIA {store.dpia_reference}, gallery version {version})"
            )
            if args.mode == "door":
                print("door mode recorded as chosen knowingly; the legal position:")
                for line in golive.DOOR_LEGAL_POSITION:
                    print(f"  - {line}")
        elif args.store_cmd == "device-code":
            store = devices.store_by_code(session, args.code)
            code = devices.create_enrolment_code(session, store=store, now=rt.now())
            print(code)
    _delivered(rt, "store")
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    import getpass

    from server.db.session import transaction
    from server.services.recognition import devices
    from server.services.staff import accounts as staff

    rt = _runtime(args)
    password = args.password or getpass.getpass("password: ")
    with transaction(rt.sessions) as session:
        store_id = devices.store_by_code(session, args.store).id if args.store else None
        who = staff.create_staff(
            session, username=args.username, password=password, role=args.role, store_id=store_id
        )
    print(f"{who.role} {who.username} created")
    return 0


def cmd_enrol(args: argparse.Namespace) -> int:
    from server.db.session import transaction
    from server.services.membership import enrolment
    from server.services.recognition import devices

    photos = []
    for p in args.photos:
        path = Path(p)
        if not path.is_file():
            print(f"enrol: {p}: no such file", file=sys.stderr)
            return 2
        photos.append(path.read_bytes())
    rt = _runtime(args)
    request = enrolment.EnrolmentRequest(
        name=args.name,
        preferred_name=args.preferred_name or "",
        language=args.language,
        photos=photos,
        consent_confirmed=args.consent_confirmed,
        confirmation_name=args.confirmation_name or args.name,
        channel="cli",
        collected_by=args.collected_by,
        # no photo files: the membership without a face (issue 12), its own consent text
        membership="face" if photos else "pass",
    )
    with transaction(rt.sessions) as session:
        store = devices.store_by_code(session, args.store)
        enrolled = enrolment.enrol_member(
            session,
            rt.context(),
            request=request,
            store=store,
            analyser=rt.faces,
            threshold=rt.threshold,
            customer_id=args.customer_id,
        )
    _delivered(rt, "enrol")
    result, link = enrolled.result, enrolled.self_service_url
    again = " again" if args.customer_id else ""
    print(
        f"enrolled {args.name}{again}: customer {result.customer_id}, {result.templates} templates"
    )
    print(f"self-service link: {link}")
    # shown once: only its digest is stored (a new one: the self-service page or the register)
    print(f"membership pass ({result.membership}): {result.pass_token}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from server.db.session import transaction
    from server.services.console import verification

    rt = _runtime(args)
    if args.audit_cmd == "checkpoint":
        # the console's call: a latest entry that no longer matches its hash is refused with
        # the reason (exit 2), not a traceback
        with transaction(rt.sessions) as session:
            cp = verification.sign_checkpoint(session, signing_key=rt.signing_key, now=rt.now())
        if cp is None:
            print("audit log is empty: nothing to sign")
        else:
            print(f"checkpoint signed over entry {cp.seq} ({cp.hash[:16]}…)")
        return 0
    # The run is recorded like one from the console, so "last verified" there includes it.
    with transaction(rt.sessions) as session:
        result = verification.run(
            session, public_key=rt.signing_key.public_key(), actor="cli", now=rt.now()
        )
    if result.ok:
        print(
            f"audit chain OK: {result.checked} entries verified, "
            f"{result.checkpoints} signed checkpoints match"
        )
        return 0
    print(f"audit chain BROKEN at entry {result.first_bad_seq}: {result.reason}", file=sys.stderr)
    return 1


def cmd_devices(args: argparse.Namespace) -> int:
    from server.db.recognition import EdgeDevice
    from server.db.session import transaction
    from server.db.stores import Store
    from server.realtime import RedisBroker
    from server.services.recognition import devices

    rt = _runtime(args)
    if args.devices_cmd == "revoke":
        # With Redis the servers hear of it at once and close the device's push socket;
        # without, each server notices within VERTROUWD_DEVICE_RECHECK_S.
        shared = isinstance(rt.broker, RedisBroker)
        with transaction(rt.sessions) as session:
            devices.revoke_device(session, rt.context(), device_id=args.device_id, actor="cli")
        _delivered(rt, "devices")
        when = "now" if shared else f"within {rt.settings.device_recheck_s:.0f} s"
        print(
            f"device {args.device_id} revoked: it gets 401, its push socket closes {when}, "
            "and it stops matching"
        )
        return 0
    with rt.sessions() as session:
        rows = session.execute(
            select(EdgeDevice, Store.code)
            .join(Store, Store.id == EdgeDevice.store_id)
            .order_by(Store.code, EdgeDevice.name)
        ).all()
        for device, store_code in rows:
            state = "revoked" if device.revoked_at else "active"
            seen = device.last_seen_at.isoformat(timespec="seconds") if device.last_seen_at else "-"
            print(
                f"{device.id}  {store_code:<20} {device.name:<20} {state:<8} "
                f"gallery v{device.acked_version}  last contact {seen}"
            )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from server.services.membership import keys

    rt = _runtime(args)
    report = keys.rotate(
        rt.sessions,
        kek=rt.kek,
        actor="cli",
        batch_size=args.batch or rt.settings.key_rotation_batch,
        clock=rt.now,
    )
    print(
        f"key-encryption key rotated: {report.previous_key_id} -> {report.key_id}; "
        f"{report.rewrapped} data keys re-wrapped in {report.batches} batches"
    )
    if report.failed or report.remaining:
        print(
            f"{report.failed} data keys could not be opened; {report.remaining} remain under an "
            "older key (run keys rotate again once other server processes reloaded)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_encrypt_fields(args: argparse.Namespace) -> int:
    from server.services.membership import fieldseal

    if args.batch is not None and args.batch < 1:
        print("--batch must be at least 1", file=sys.stderr)
        return 2
    rt = _runtime(args)
    report = fieldseal.encrypt_fields(
        rt.sessions, batch_size=args.batch or rt.settings.key_rotation_batch, actor="cli",
        clock=rt.now,
    )  # fmt: skip
    per_table = ", ".join(f"{t} {n}" for t, n in report.sealed.items() if n) or "none"
    print(f"personal fields sealed: {report.total} rows in {report.batches} batches ({per_table})")
    return 0


def cmd_epochs(args: argparse.Namespace) -> int:
    from consent.keys import EpochKeyring
    from server.services.membership import epochs

    rt = _runtime(args)
    if args.destroy_expired:
        report = epochs.run(
            rt.sessions, kek=rt.kek, settings=rt.settings, actor="cli", now=rt.now(),
            rotate=args.rotate_if_due,
        )  # fmt: skip
        if report.rotated_to:
            print(f"new epoch {report.rotated_to}: {report.rewrapped} data keys re-wrapped")
        print(f"destroyed: {', '.join(report.destroyed) or 'none'}")
        if report.kept_in_use:
            print(f"kept (still wrap live data keys): {', '.join(report.kept_in_use)}",
                  file=sys.stderr)  # fmt: skip
            return 1
    kek = rt.kek
    retention = timedelta(days=rt.settings.backup_retention_days)
    for epoch in kek.epochs() if isinstance(kek, EpochKeyring) else ():
        if epoch.retired_at is None:
            state = "current"
        else:
            until = epoch.retired_at + retention
            state = f"retired {epoch.retired_at:%Y-%m-%d}, destroyed from {until:%Y-%m-%d}"
        created = f"{epoch.created_at:%Y-%m-%d}" if epoch.created_at else "?"
        print(f"{epoch.key_id}  since {created}  {state}")
    print(epochs.promise(rt.settings).sentence())
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from server.services.membership import retention

    rt = _runtime(args)
    # The server's own pass, notifications included (devices and tablets hear of it at once).
    report = retention.run_once(rt.context(), rt.sessions, actor="cli")
    _delivered(rt, "retention")
    print(
        f"retention: {report.expired} consents expired, {report.purged} customers past the "
        f"{rt.settings.retention_years}-year limit, {report.templates_destroyed} templates and "
        f"{report.orphan_keys} orphaned data keys destroyed; galleries published: "
        f"{report.gallery_versions or 'none'}"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """CSV import (columns: ``server.services.clienteling.importer``). Exit 0: all rows
    imported; 1: some
    malformed rows were reported and skipped; 2: the file was refused as a whole."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from server.services.clienteling import importer

    path = Path(args.file)
    if not path.is_file():
        print(f"import: {args.file}: no such file", file=sys.stderr)
        return 2
    try:
        tz = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"import: unknown time zone {args.timezone!r}", file=sys.stderr)
        return 2
    extra: dict[str, Any] = {"tz": tz} if args.kind == "purchases" else {}
    rt = _runtime(args)
    with rt.sessions() as session:
        tx = session.begin()
        try:
            report = importer.IMPORTERS[args.kind](
                session, path.read_bytes(), now=rt.now(), dry_run=args.dry_run, actor="cli", **extra
            )
        except BaseException:
            tx.rollback()
            raise
        if args.dry_run:
            tx.rollback()  # the same checks and writes as a real run, then nothing kept
        else:
            tx.commit()
            if session.get_bind().dialect.name == "postgresql":
                # Fresh statistics for the planner after a bulk load, instead of waiting for
                # autovacuum: the arrival hot path's set-based queries plan on them.
                with session.begin():
                    session.execute(text("ANALYZE"))
    for note in report.notes:
        print(f"note: {note}")
    for err in report.errors[: args.max_errors]:
        print(f"{path.name}:{err.line}: {err.message}", file=sys.stderr)
    if len(report.errors) > args.max_errors:
        print(f"... and {len(report.errors) - args.max_errors} more", file=sys.stderr)
    print(report.summary() + (" (dry run: nothing written)" if args.dry_run else ""))
    return 1 if report.errors else 0


def cmd_pos_key(args: argparse.Namespace) -> int:
    from server.db.session import transaction
    from server.services.clienteling import pos
    from server.services.recognition import devices

    rt = _runtime(args)
    with transaction(rt.sessions) as session:
        if args.pos_cmd == "create":
            store = devices.store_by_code(session, args.store)
            created = pos.create_key(session, store=store, name=args.name, now=rt.now())
            print(f"POS key {created.id} for store {created.store_code} ({created.name}):")
            print(created.key)
            print("Shown once. The POS sends it as 'Authorization: Bearer <key>'.")
        else:
            row = pos.revoke_key(session, key_id=args.key_id, now=rt.now())
            print(f"POS key {row.id} ({row.name}) revoked")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vertrouwd", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="default: $VERTROUWD_DATA_DIR or ./var")
        p.add_argument("--database-url", help="default: SQLite file in the data dir")

    p = sub.add_parser("server", help="run the API, pages and WebSocket push")
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="server processes (need Redis)")
    p.add_argument(
        "--backlog",
        type=int,
        default=2048,
        help="listen backlog: connections waiting to be accepted, e.g. every tablet and device "
        "reconnecting at once after a restart (the kernel caps it at net.core.somaxconn)",
    )
    p.set_defaults(fn=cmd_server)

    p = sub.add_parser("devices", help="list edge devices, revoke one")
    dsub = p.add_subparsers(dest="devices_cmd", required=True)
    q = dsub.add_parser("list")
    common(q)
    q = dsub.add_parser("revoke", help="revoke a device credential (it stops matching)")
    common(q)
    q.add_argument("device_id")
    p.set_defaults(fn=cmd_devices)

    p = sub.add_parser("migrate", help="apply database migrations and create keys, then exit")
    common(p)
    p.set_defaults(fn=cmd_migrate)

    p = sub.add_parser("store", help="create a store, take it live, issue a device code")
    ssub = p.add_subparsers(dest="store_cmd", required=True)
    q = ssub.add_parser("create")
    common(q)
    q.add_argument("code")
    q.add_argument("--name", required=True)
    q = ssub.add_parser(
        "go-live",
        help="confirm signage, record the DPIA reference, member zone and recognition mode",
    )
    common(q)
    q.add_argument("code")
    q.add_argument("--dpia", required=True)
    q.add_argument("--signage-confirmed", action="store_true")
    q.add_argument(
        "--mode",
        required=True,
        choices=["door", "checkin", "pass", "pass+face"],
        help="how members are recognised: door camera, check-in spot, pass QR, pass + 1:1 face",
    )
    q.add_argument(
        "--acknowledge-door-risk",
        action="store_true",
        help="door mode only: you have read the legal position (Dutch AP 2020/2024, EDPB 3/2019, "
        "AI Act Annex III 1(a)) and choose door recognition knowingly",
    )
    q.add_argument(
        "--zone",
        default="0,0,1,1",
        help="member zone as X,Y,W,H fractions of the camera frame (default: the whole frame)",
    )
    q.add_argument(
        "--min-face-size",
        type=int,
        default=None,
        help="smallest face processed, in pixels (default: 80 for door, 160 otherwise)",
    )
    q = ssub.add_parser("device-code", help="print a one-time code to register an edge device")
    common(q)
    q.add_argument("code")
    p.set_defaults(fn=cmd_store)

    p = sub.add_parser("staff", help="staff accounts")
    stsub = p.add_subparsers(dest="staff_cmd", required=True)
    p = stsub.add_parser("add", help="add a staff account")
    common(p)
    p.add_argument("username")
    p.add_argument(
        "--role", required=True, choices=["sales", "cashier", "privacy_officer", "admin"]
    )
    p.add_argument("--store", help="store code (required for sales and cashier)")
    p.add_argument("--password", help="default: asked for")
    p.set_defaults(fn=cmd_staff)

    p = sub.add_parser(
        "enrol", help="enrol a customer from photo files (or, without photos, with a pass only)"
    )
    common(p)
    p.add_argument(
        "photos",
        nargs="*",
        help="1-5 photos of the customer, one face each; none: a membership without a face",
    )
    p.add_argument("--name", required=True)
    p.add_argument("--preferred-name")
    p.add_argument("--language", choices=["nl", "en"], default="nl")
    p.add_argument("--store", required=True, help="store code")
    p.add_argument("--consent-confirmed", action="store_true", help="the customer agreed")
    p.add_argument("--confirmation-name", help="name as typed by the customer")
    p.add_argument("--collected-by", default="cli")
    p.add_argument(
        "--customer-id",
        help="enrol this existing customer again (their consent ended; history is kept)",
    )
    p.set_defaults(fn=cmd_enrol)

    p = sub.add_parser("audit", help="verify the audit chain, sign a checkpoint")
    asub = p.add_subparsers(dest="audit_cmd", required=True)
    q = asub.add_parser("verify", help="recompute the chain and checkpoints; 1 if broken")
    common(q)
    q.set_defaults(fn=cmd_audit)
    q = asub.add_parser("checkpoint", help="sign a checkpoint over the latest entry")
    common(q)
    q.set_defaults(fn=cmd_audit)

    p = sub.add_parser("keys", help="key-encryption key rotation")
    ksub = p.add_subparsers(dest="keys_cmd", required=True)
    q = ksub.add_parser("rotate", help="new KEK, re-wrap every data key (server keeps running)")
    common(q)
    q.add_argument("--batch", type=int, help="data keys per transaction (default: setting)")
    q.set_defaults(fn=cmd_keys)

    q = ksub.add_parser(
        "encrypt-fields",
        help="seal personal fields written before migration 0007 (server keeps running)",
    )
    common(q)
    q.add_argument("--batch", type=int, help="rows per transaction (default: key_rotation_batch)")
    q.set_defaults(fn=cmd_encrypt_fields)
    q = ksub.add_parser("epochs", help="list backup epochs (KEKs) and the backup promise")
    common(q)
    q.add_argument("--destroy-expired", action="store_true",
                   help="destroy KEKs retired longer than the backup retention ago")  # fmt: skip
    q.add_argument("--rotate-if-due", action="store_true",
                   help="first start a new epoch when one is due")  # fmt: skip
    q.set_defaults(fn=cmd_epochs)

    p = sub.add_parser("retention", help="consent expiry and the retention limit")
    rsub = p.add_subparsers(dest="retention_cmd", required=True)
    q = rsub.add_parser("run", help="expire consents and destroy templates now")
    common(q)
    q.set_defaults(fn=cmd_retention)

    from server.services.clienteling import importer  # its docstring is the column reference

    p = sub.add_parser(
        "import",
        help="import a point-of-sale/CRM CSV export: catalogue, customers or purchases",
        description=importer.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p)
    p.add_argument("kind", choices=["catalogue", "customers", "purchases"])
    p.add_argument("file", help="CSV file (UTF-8, header row, ',' ';' or tab separated)")
    p.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    p.add_argument(
        "--timezone", default="Europe/Amsterdam", help="for sale times without an offset"
    )
    p.add_argument("--max-errors", type=int, default=50, help="row errors to print")
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("pos-key", help="API keys for a point-of-sale system (sales webhook)")
    psub = p.add_subparsers(dest="pos_cmd", required=True)
    q = psub.add_parser("create", help="create a key for a store; printed once")
    common(q)
    q.add_argument("store", help="store code")
    q.add_argument("--name", required=True, help="what uses it, e.g. 'register 1'")
    q = psub.add_parser("revoke", help="revoke a key by its number")
    common(q)
    q.add_argument("key_id", type=int)
    p.set_defaults(fn=cmd_pos_key)

    p = sub.add_parser("demo", help="the whole loop on the real clip", add_help=False)
    p.set_defaults(fn=None)
    p = sub.add_parser(
        "edge", help="run an edge device (see vertrouwd-edge --help)", add_help=False
    )
    p.set_defaults(fn=None)
    p = sub.add_parser(
        "models", help="model tools: install, calibrate, evaluate, convert-dlib", add_help=False
    )
    p.set_defaults(fn=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Subcommands with their own parsers get the rest of the line untouched.
    if argv and argv[0] == "edge":
        from edge.cli import main as edge_main

        return int(edge_main(argv[1:]))
    if argv and argv[0] == "models":
        from models.cli import main as models_main

        return int(models_main(argv[1:]))
    if argv and argv[0] == "demo":
        from server.demo import exit_now
        from server.demo import main as demo_main

        exit_now(int(demo_main(argv[1:])))
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for name in ("server", "consent", "models"):
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        code: int = args.fn(args)
    except ServiceError as exc:
        print(f"vertrouwd {args.cmd}: {exc.reason}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
