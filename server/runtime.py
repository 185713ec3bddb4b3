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
from models.calibration import load_calibration
from server.db.migrate import upgrade
from server.db.sealed import FieldVault
from server.db.session import make_engine, make_session_factory
from server.realtime import InProcessBroker, RedisBroker, make_broker
from server.services import audit
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
    clock: Callable[[], datetime] = field(default=utc_now)
    # Argon2 for sign-ins: bounded like photo analysis (issue 14), so a burst of logins waits
    # for two workers or gets 503 instead of taking every core from arrivals.
    password_pool: WorkPool = field(
        default_factory=lambda: WorkPool(name="sign-in check", workers=2, waiting=32, budget_s=20)
    )

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.password_pool.shutdown()
        self.engine.dispose()


def build_runtime(settings: ServerSettings, *, migrate: bool = True) -> Runtime:
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
    calibration = load_calibration("dlib_resnet_v1")
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
    )
