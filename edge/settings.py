"""The edge device's settings: one pydantic-settings object, env prefix ``VERTROUWD_EDGE_``.

Every threshold has bounds and a description; unknown keys are refused (``extra="forbid"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from consent.gallery import MIN_FACE_SIZE_BOUNDS


class EdgeSettings(BaseSettings):
    """Configuration of one camera device (one process per camera)."""

    model_config = SettingsConfigDict(
        env_prefix="VERTROUWD_EDGE_", extra="forbid", validate_default=True
    )

    # --- where frames come from and where the server is -------------------------------------
    source: str = Field(
        "0",
        min_length=1,
        description='Video source: a file path, a camera index such as "0", or an rtsp/http URL.',
    )
    server_url: str | None = Field(
        None, description="Base URL of the Vertrouwd server, e.g. https://vertrouwd.example."
    )
    data_dir: Path = Field(
        Path("var/edge"),
        description="Directory for the device key pair, credential and sealed gallery file.",
    )
    name: str = Field("edge", min_length=1, max_length=100, description="Device display name.")

    # --- models ---------------------------------------------------------------------------------
    detector: str = Field(
        "blazeface",
        min_length=1,
        description="Face detector backend key or JSON spec: blazeface (default; searches "
        "tiles for the zone's minimum face size) or dlib_hog (the reference, slower).",
    )
    detector_upsample: int = Field(
        1,
        ge=0,
        le=3,
        description="dlib_hog only: times it upsamples the (downscaled) crop.",
    )
    embedder: str = Field(
        "onnx",
        min_length=1,
        description="Face embedder backend key or JSON spec: onnx (default; dlib's network "
        "converted by `vertrouwd models install`, same embeddings) or dlib_resnet.",
    )
    onnx_providers: tuple[str, ...] | None = Field(
        None,
        description="onnxruntime execution providers for the ONNX embedder, in order of "
        'preference, e.g. ["TensorrtExecutionProvider", "CUDAExecutionProvider"] on a Jetson; '
        "ones this device lacks are skipped with a log line, CPU is always last. None: the "
        "best available. A providers option in the embedder's JSON spec wins.",
    )
    detect_scale: float = Field(
        0.5,
        gt=0.05,
        le=1.0,
        description="Detection runs on the member-zone crop scaled by this factor (1 = full size).",
    )

    detect_full_every: int = Field(
        4,
        ge=1,
        le=100,
        description="While faces are tracked, the whole zone is searched on every Nth frame "
        "(for faces that just came in); the frames between search only a window around each "
        "tracked face, where the detector can (BlazeFace: one network run a window instead of "
        "a tiled scan). 1: the whole zone on every frame.",
    )
    track_window: float = Field(
        3.0,
        ge=1.5,
        le=8.0,
        description="Side of the window searched around a tracked face, in face sizes.",
    )

    # --- member zone (privacy invariant 11) ---------------------------------------------------
    zone_x: float = Field(0.0, ge=0.0, lt=1.0, description="Zone left edge, fraction of width.")
    zone_y: float = Field(0.0, ge=0.0, lt=1.0, description="Zone top edge, fraction of height.")
    zone_w: float = Field(1.0, gt=0.0, le=1.0, description="Zone width, fraction of width.")
    zone_h: float = Field(1.0, gt=0.0, le=1.0, description="Zone height, fraction of height.")
    min_face_size: int = Field(
        60,
        ge=MIN_FACE_SIZE_BOUNDS[0],
        le=MIN_FACE_SIZE_BOUNDS[1],
        description="Faces whose smaller side is below this many full-resolution pixels are "
        "dropped: people who do not step up to the camera are not processed.",
    )

    # --- motion gate ----------------------------------------------------------------------------
    motion_threshold: float = Field(
        0.002,
        ge=0.0,
        le=1.0,
        description="Fraction of (downscaled) zone pixels that must change to run detection.",
    )
    motion_pixel_delta: int = Field(
        18, ge=1, le=255, description="Grey-level difference that counts a pixel as changed."
    )
    motion_hold_frames: int = Field(
        5, ge=0, le=300, description="Frames detection keeps running after the last motion."
    )

    # --- tracking and embedding -----------------------------------------------------------------
    track_iou: float = Field(
        0.3, gt=0.0, le=1.0, description="Minimum IoU to continue a track with a new box."
    )
    track_max_missed: int = Field(
        8, ge=0, le=300, description="Processed frames without a box before a track ends."
    )
    max_embeds_per_track: int = Field(
        8, ge=1, le=100, description="At most this many embeddings are computed for one track."
    )
    embed_interval: int = Field(
        3,
        ge=1,
        le=100,
        description="Frames between two embeddings of one track: spreads a track's few "
        "embeddings over time (pose, blur) instead of spending them on consecutive frames.",
    )
    top_n_embeddings: int = Field(
        3, ge=1, le=20, description="Best-quality embeddings a track keeps in memory."
    )
    min_quality: float = Field(
        1.0,
        ge=0.0,
        le=2.0,
        description="Minimum models.quality.score_for_selection (0..2; 1 and above means size, "
        "sharpness and frontalness are all acceptable) for a face to be embedded.",
    )

    # --- matching and confirmation --------------------------------------------------------------
    confirm_rule: Literal["mean", "kofn"] = Field(
        "mean",
        description="How a track is decided: 'mean' matches the quality-weighted mean of its "
        "best embeddings (edge.confirm.TrackMean) once it has confirm_min_frames of them and "
        "as many of its frames have the same nearest member; 'kofn' votes over single frames "
        "(confirm_k of the last confirm_n).",
    )
    confirm_min_frames: int = Field(
        2,
        ge=1,
        le=20,
        description="Rule 'mean': embeddings a track needs before its mean is matched, and how "
        "many of its frames must have the mean's member as their own nearest.",
    )
    confirm_k: int = Field(
        3, ge=1, le=50, description="Matches of one subject needed among the last n embeddings."
    )
    confirm_n: int = Field(
        5,
        ge=1,
        le=50,
        description="Window of embeddings k-of-n (and the mean's agreement) looks at.",
    )
    match_threshold: float | None = Field(
        None,
        gt=0.0,
        le=2.0,
        description="Override of the calibrated distance threshold (default: the model's).",
    )
    min_margin: float | None = Field(
        None,
        ge=0.0,
        le=2.0,
        description="Override of the calibrated minimum margin to the second-best subject.",
    )
    cooldown_s: float = Field(
        600.0, ge=0.0, le=86_400.0, description="One arrival per member per this many seconds."
    )

    # --- recognition modes (the mode itself comes only from the signed gallery) ---------------
    checkin_trigger_required: bool = Field(
        False,
        description="Check-in mode: analyse nothing (not even the presence gate) until the "
        "kiosk's button is pressed (POST /kiosk/checkin).",
    )
    checkin_trigger_window_s: float = Field(
        10.0, ge=1.0, le=120.0, description="Check-in mode: seconds a button press looks for."
    )
    checkin_welcome_s: float = Field(
        4.0, ge=0.5, le=60.0, description="Check-in mode: seconds the kiosk shows its welcome."
    )
    checkin_looking_timeout_s: float = Field(
        15.0,
        ge=1.0,
        le=300.0,
        description="Check-in mode: seconds the camera looks at a person in the spot before it "
        "gives up (nobody recognised) and waits for the spot to be empty again.",
    )
    checkin_min_fill: float = Field(
        0.12,
        gt=0.0,
        le=1.0,
        description="Check-in mode: fraction of the spot that must differ from the empty spot "
        "for someone to be present (presence gate, no face model).",
    )
    checkin_min_height: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Check-in mode: the largest changed blob must be at least this fraction of "
        "the spot's height (a person close to the camera, not someone far behind).",
    )
    checkin_dwell_frames: int = Field(
        5,
        ge=1,
        le=100,
        description="Check-in mode: frames in a row a person must stand (barely moving) in the "
        "spot before the face detector runs; people walking past never qualify.",
    )
    pass_face_frames: int = Field(
        30,
        ge=1,
        le=600,
        description="pass+face mode: frames after a pass was read in which the holder's face "
        "is looked for at the spot and compared 1:1 with their own templates.",
    )
    pass_face_embeddings: int = Field(
        3,
        ge=1,
        le=10,
        description="pass+face mode: at most this many 1:1 comparisons per pass shown.",
    )

    # --- gallery sync ---------------------------------------------------------------------------
    gallery_poll_s: float = Field(
        5.0, ge=0.5, le=3600.0, description="Seconds between gallery polls to the server."
    )
    gallery_push: bool = Field(
        True,
        description="Keep a WebSocket open to the server's /ws/device: a new gallery version "
        "(e.g. a withdrawal) is fetched at once instead of at the next poll, and arrival "
        "events are sent on it (posted while it is down).",
    )
    gallery_confirm_s: float = Field(
        60.0,
        ge=0.5,
        le=3600.0,
        description="Seconds between confirming polls while the push socket is up (at most a "
        "third of the gallery TTL); while it is down the device polls every gallery_poll_s.",
    )
    gallery_ttl_s: float = Field(
        900.0,
        ge=10.0,
        le=7 * 86_400.0,
        description="Fallback TTL when the server gave none: matching stops when the gallery "
        "has not been confirmed current for this long (fail closed).",
    )

    # --- runtime --------------------------------------------------------------------------------
    realtime: bool = Field(
        True,
        description="Drop stale frames and always work on the newest (cameras); False processes "
        "every frame in order (files, tests, benchmarks).",
    )
    queue_size: int = Field(
        1,
        ge=1,
        le=2,
        description="Frames buffered between capture and work. 1: the work always takes the "
        "newest frame (a busy device answers about now, not about a frame ago); 2: one older "
        "frame waits too.",
    )
    event_queue_size: int = Field(
        1000, ge=1, le=1_000_000, description="Arrival events held in memory while unsent."
    )
    offline_queue: bool = Field(
        True,
        description="While the server is unreachable, keep unsent arrival events in an "
        "encrypted queue in data_dir/queue (survives a restart) and replay them in order "
        "once it answers; False keeps them in memory only.",
    )
    offline_queue_max_events: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Events the offline queue holds at most; the oldest are dropped first.",
    )
    offline_queue_max_age_s: float = Field(
        12 * 3600.0,
        ge=60.0,
        le=24 * 3600.0,
        description="Queued events older than this are dropped (the server refuses events "
        "older than its 24 h replay window anyway).",
    )
    event_retry_max_s: float = Field(
        30.0,
        ge=0.5,
        le=600.0,
        description="Longest wait between two attempts to reach the server with events "
        "(exponential backoff with jitter from 1 s, at least the server's Retry-After).",
    )
    health_host: str = Field("127.0.0.1", description="Address of the health/metrics endpoint.")
    health_port: int = Field(
        0, ge=0, le=65535, description="Port of the health/metrics endpoint; 0 turns it off."
    )

    @field_validator("server_url")
    @classmethod
    def _check_server_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("server_url must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.zone_x + self.zone_w > 1.0 + 1e-9:
            raise ValueError("zone_x + zone_w must not exceed 1")
        if self.zone_y + self.zone_h > 1.0 + 1e-9:
            raise ValueError("zone_y + zone_h must not exceed 1")
        if self.confirm_k > self.confirm_n:
            raise ValueError("confirm_k must not exceed confirm_n")
        if self.confirm_k > self.max_embeds_per_track:
            raise ValueError("confirm_k must not exceed max_embeds_per_track")
        if self.confirm_rule == "mean":
            if self.confirm_min_frames > min(self.top_n_embeddings, self.max_embeds_per_track):
                raise ValueError(
                    "confirm_min_frames must not exceed top_n_embeddings or max_embeds_per_track"
                )
            if self.confirm_min_frames > self.confirm_n:
                raise ValueError("confirm_min_frames must not exceed confirm_n (the frames kept)")
        return self
