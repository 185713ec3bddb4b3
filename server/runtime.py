"""What one server process holds: settings, database, keys, broker, face models, clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from consent.keys import KeyProvider, LocalKeyFileProvider, load_or_create_secret
from consent.signing import Ed25519PrivateKey, load_or_create_signing_key
from models.calibration import Calibration, load_calibration
from models.registry import create_embedder
from server.db.migrate import upgrade
from server.db.sealed import FieldVault
from server.db.session import make_engine, make_session_factory
from server.realtime import InProcessBroker, RedisBroker, make_broker
from server.services import audit
from server.services.context import ServiceContext
from server.services.membership.faces import FaceAnalyser
from server.services.workpool import WorkPool
from server.settings import ServerSettings

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: ServerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    kek: KeyProvider
    vault: FieldVault
    signing_key: Ed25519PrivateKey
    broker: InProcessBroker | RedisBroker
    faces: FaceAnalyser
    threshold: float
    min_margin: float
    secret_key: bytes
    calibration: Calibration
    """The shipped calibration of the configured embedder's model (the one the server enrols
    with and the devices match with): threshold, margin, the open-set figures."""
    clock: Callable[[], datetime] = field(default=utc_now)
    # Argon2 for sign-ins: bounded like photo analysis (issue 14), so a burst of logins waits
    # for two workers or gets 503 instead of taking every core from arrivals.
    password_pool: WorkPool = field(
        default_factory=lambda: WorkPool(name="sign-in check", workers=2, waiting=32, budget_s=20)
    )

    def now(self) -> datetime:
        return self.clock()

    def context(self) -> ServiceContext:
        """What services get from this process: the one place it is put together, for a
        request (``deps.ContextDep``) and for a CLI command alike. Built per use, so a test that
        swaps the runtime's clock, settings or broker is seen by the next request."""
        return ServiceContext(
            settings=self.settings,
            clock=self.now,
            kek=self.kek,
            calibration=self.calibration,
            notify=self.broker.publish,
        )

    def close(self) -> None:
        self.password_pool.shutdown()
        self.engine.dispose()


def build_runtime(settings: ServerSettings, *, migrate: bool = True) -> Runtime:
    # chosen by the configured embedder's model id (building a backend loads nothing); first,
    # so a model without a calibration is refused before anything is opened or migrated
    calibration = load_calibration(create_embedder(settings.embedder).model_id)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = settings.resolved_database_url
    if migrate:
        upgrade(url)
    engine = make_engine(url)
    faces = FaceAnalyser(
        detector=settings.detector,
        embedder=settings.embedder,
        min_face_size=settings.min_face_size,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.photo_max_pixels,
        analysis_pixels=settings.photo_analysis_pixels,
        workers=settings.photo_workers,
        waiting=settings.photo_waiting,
        budget_s=settings.photo_budget_s,
    )
    kek = LocalKeyFileProvider(settings.resolved_kek_path)
    vault = FieldVault(kek=kek, index_key=load_or_create_secret(settings.resolved_index_key_path))
    sessions = make_session_factory(engine, vault=vault)
    signing_key = load_or_create_signing_key(settings.resolved_signing_key_path)
    audit.enable_checkpoints(
        sessions, signing_key=signing_key, every=settings.audit_checkpoint_every
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        kek=kek,
        vault=vault,
        signing_key=signing_key,
        broker=make_broker(settings.redis_url),
        faces=faces,
        threshold=settings.duplicate_threshold or calibration.threshold,
        min_margin=calibration.min_margin,
        secret_key=(
            settings.secret_key.encode()
            if settings.secret_key
            else load_or_create_secret(settings.data_dir / "keys" / "secret.key")
        ),
        calibration=calibration,
    )
