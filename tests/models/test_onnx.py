"""The ONNX backend: dlib's network converted from its own file, equal to dlib on every real face
and on the clip; the int8 variant; another ONNX model with its checksum, input spec and
calibration. Models are converted once per session into a temporary directory."""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.backends.dlib import DlibResnetEmbedder
from models.backends.onnx import (
    DLIB_FLOAT_ID,
    DLIB_INT8_ID,
    ModelChecksumError,
    OnnxEmbedder,
    choose_providers,
    sha256_file,
)
from models.calibration import Calibration, load_calibration
from models.cli import main
from models.convert_dlib import (
    DLIB_MODEL_SHA256,
    AddPrev,
    Affine,
    Conv,
    DlibFormatError,
    Fc,
    Pool,
    Relu,
    Skip,
    Tag,
    _Reader,
    convert,
    dlib_model_path,
    read_dlib_net,
)
from models.int8_check import MIN_COSINE as INT8_MIN_COSINE
from models.int8_check import int8_self_check
from models.registry import (
    INPUT_PRESETS,
    DlibResnetConfig,
    OnnxEmbedderConfig,
    create_embedder,
    embedder_config,
)
from models.types import BackendUnavailable, Embedding, FaceEmbedder
from tests.facememo import MemoDetector
from tests.models.conftest import Face

# -- conversion, once per session ------------------------------------------------------------


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    """dlib's network converted by the command line into a fresh directory: the float model and
    the int8 one, its ranges set by the chips of people/. One conversion for both: with
    ``--int8`` the command converts and checks the float model exactly as without it (the same
    ``convert`` call, the same card), then quantises it, so a second, float-only conversion
    checked nothing more and cost a conversion (``test_convert_cli_refusals`` covers how the
    options combine)."""
    out = tmp_path_factory.mktemp("onnx-models")
    argv = ["convert-dlib", "--out", str(out), "--int8", "--calibration", str(faces_dir / "people")]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="session")
def int8_dir(model_dir: Path) -> Path:
    """The float and the int8 model (``model_dir``)."""
    return model_dir


@pytest.fixture(scope="session")
def onnx_embedder(model_dir: Path) -> OnnxEmbedder:
    e = OnnxEmbedder(model_dir=model_dir)
    e.load()
    return e


@pytest.fixture(scope="session")
def int8_embedder(int8_dir: Path) -> OnnxEmbedder:
    e = OnnxEmbedder(model_dir=int8_dir, int8=True)
    e.load()
    return e


def _cosines(a: list[Embedding], b: list[Embedding]) -> np.ndarray:
    x = np.stack([e.vector for e in a]).astype(np.float64)
    y = np.stack([e.vector for e in b]).astype(np.float64)
    return np.asarray((x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)))


def _max_abs(a: list[Embedding], b: list[Embedding]) -> float:
    return float(np.abs(np.stack([e.vector for e in a]) - np.stack([e.vector for e in b])).max())


# -- reading dlib's file -----------------------------------------------------------------------


def test_reads_the_whole_installed_network() -> None:
    path = dlib_model_path()
    net = read_dlib_net(path)
    assert net.sha256 == DLIB_MODEL_SHA256 == sha256_file(path)
    assert net.loss == "loss_metric_2"
    assert net.input.size == (150, 150)
    assert np.array_equal(
        np.asarray(net.input.mean, np.float32), np.asarray(INPUT_PRESETS["dlib"].mean, np.float32)
    )
    kinds = [type(layer) for layer in net.layers]
    counts = {cls: kinds.count(cls) for cls in (Conv, Affine, Relu, AddPrev, Tag, Skip, Pool, Fc)}
    # 1 stem conv + 14 residual blocks of 2 convs, each followed by an affine
    assert counts == {Conv: 29, Affine: 29, Relu: 29, AddPrev: 14, Tag: 18, Skip: 4, Pool: 6, Fc: 1}
    stem = net.layers[0]
    assert isinstance(stem, Conv)
    assert stem.weight.shape == (32, 3, 7, 7)
    assert (stem.stride, stem.padding) == ((2, 2), (0, 0))
    fc = net.layers[-1]
    assert isinstance(fc, Fc)
    assert fc.weight.shape == (256, 128)
    assert fc.bias is None
    assert net.embedding_dim == 128
    n_params = sum(
        layer.weight.size + layer.bias.size for layer in net.layers if isinstance(layer, Conv)
    )
    assert n_params > 5_000_000  # every float of the 22 MB file is a weight


def test_scalar_encodings() -> None:
    # integers: control byte (sign bit, byte count) then little-endian magnitude
    assert _Reader(b"\x01\x02").integer() == 2
    assert _Reader(b"\x81\x1c").integer() == -28
    assert _Reader(b"\x00").integer() == 0
    # floats: mantissa and exponent as integers, value mantissa * 2**exponent (not IEEE)
    assert _Reader(b"\x03\x0a\xd7\xa3\x81\x1c").real() == pytest.approx(0.04, abs=1e-9)
    assert np.float32(_Reader(b"\x03\x62\x90\xf5\x81\x11").real()) == np.float32(122.782)
    r = _Reader(b"\x01\x05con_4\x31")
    assert r.string() == "con_4"
    assert r.flag() is True
    with pytest.raises(DlibFormatError, match="control byte"):
        _Reader(b"\x70").integer()


def test_damaged_or_foreign_files_are_refused(tmp_path: Path) -> None:
    data = dlib_model_path().read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DlibFormatError, match=r"unexpected end of file .*at byte"):
        read_dlib_net(truncated)
    renamed = tmp_path / "renamed.dat"
    renamed.write_bytes(data.replace(b"con_4", b"xon_4", 1))
    with pytest.raises(DlibFormatError, match=r"expected a convolution.*'xon_4'"):
        read_dlib_net(renamed)
    trailing = tmp_path / "trailing.dat"
    trailing.write_bytes(data + b"\x00")
    with pytest.raises(DlibFormatError, match="trailing bytes"):
        read_dlib_net(trailing)
    with pytest.raises(DlibFormatError, match="SHA-256"):
        convert(tmp_path / "x.onnx", source=trailing)
    assert not (tmp_path / "x.onnx").exists()


def test_converted_model_has_a_card_with_its_checksum(model_dir: Path) -> None:
    model = model_dir / "dlib_resnet_v1.onnx"
    card = json.loads((model_dir / "dlib_resnet_v1.onnx.json").read_text())
    assert card["model_id"] == DLIB_FLOAT_ID
    assert card["sha256"] == sha256_file(model)
    assert card["source_sha256"] == DLIB_MODEL_SHA256
    assert card["input"] == INPUT_PRESETS["dlib"].model_dump(mode="json")
    assert card["check"]["cosine_min"] >= 0.9999
    assert card["check"]["max_abs_diff"] < 1e-3


# -- the proof: equal to dlib on every face ---------------------------------------------------


@pytest.mark.faces
def test_float_model_equals_dlib_on_every_face(
    onnx_embedder: OnnxEmbedder, people: list[Face], scenes: dict[str, Face]
) -> None:
    faces = [*people, *scenes.values()]
    dlib_all: list[Embedding] = []
    onnx_all: list[Embedding] = []
    for face in faces:
        got = onnx_embedder.embed(face.image, face.boxes, landmarks=face.landmarks)
        assert [e.model_id for e in got] == [DLIB_FLOAT_ID] * len(face.boxes)
        dlib_all += face.embeddings
        onnx_all += got
    assert len(onnx_all) == 16  # 11 in people/, 2 + 3 in scenes/
    assert _cosines(dlib_all, onnx_all).min() >= 0.9999
    assert _max_abs(dlib_all, onnx_all) < 1e-3
    # without landmarks it finds the same ones itself
    scene = scenes["obama_and_biden.jpg"]
    again = onnx_embedder.embed(scene.image, scene.boxes)
    assert _max_abs(again, scene.embeddings) < 1e-3


@pytest.mark.faces
def test_same_chips_as_the_dlib_backend(
    onnx_embedder: OnnxEmbedder, embedder: DlibResnetEmbedder, scenes: dict[str, Face]
) -> None:
    scene = scenes["obama_and_biden.jpg"]
    ours = onnx_embedder.face_chips(scene.image, scene.boxes, landmarks=scene.landmarks)
    theirs = embedder.face_chips(scene.image, scene.boxes, landmarks=scene.landmarks)
    assert len(ours) == 3
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == (150, 150, 3)
        assert np.array_equal(a, b)
    from_chips = onnx_embedder.embed_chips(ours)
    assert _max_abs(from_chips, scene.embeddings) < 1e-3
    with pytest.raises(ValueError, match="chip must be uint8"):
        onnx_embedder.embed_chips([scene.image])


@pytest.mark.faces
@pytest.mark.slow
def test_identification_on_the_clip_is_identical(
    onnx_embedder: OnnxEmbedder, faces_dir: Path, tmp_path: Path
) -> None:
    from tests.edge.conftest import CLIP, LIN, STRANGERS, Models, build_index, run_clip

    if not CLIP.is_file():
        pytest.skip(f"real clip not found at {CLIP}")
    from edge.settings import EdgeSettings
    from models.backends.dlib import DlibHogDetector

    # one detector for both runs, its boxes memoised per frame (tests/facememo.py): both
    # embedders get the same real boxes, and the clip is scanned once, not twice
    detector = MemoDetector(DlibHogDetector(upsample=1))
    runs = {}
    for name, emb in (("dlib", create_embedder("dlib_resnet")), ("onnx", onnx_embedder)):
        emb.load()
        models = Models(detector, emb)
        index = build_index(models, faces_dir, (LIN, *STRANGERS))
        assert index.model_id == DLIB_FLOAT_ID
        runs[name] = run_clip(models, index, CLIP, tmp_path / name)
    dlib_run, onnx_run = runs["dlib"], runs["onnx"]
    assert len(dlib_run.events) == 1, "the clip holds one member arrival (lin_manuel_miranda)"
    assert [(e.subject_id, e.frames) for e in onnx_run.events] == [
        (e.subject_id, e.frames) for e in dlib_run.events
    ]
    for a, b in zip(onnx_run.events, dlib_run.events, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-3)
        assert a.margin == pytest.approx(b.margin, abs=1e-3)
    # the edge decides a track from its second embedding on (the track mean, issue 13)
    assert dlib_run.metrics["embeddings"] >= EdgeSettings().confirm_min_frames
    for key in ("frames_processed", "faces_in_zone", "embeddings", "tracks_confirmed", "arrivals"):
        assert onnx_run.metrics.get(key, 0.0) == dlib_run.metrics.get(key, 0.0), key


# -- int8 --------------------------------------------------------------------------------------


@pytest.mark.faces
def test_int8_is_close_to_dlib_and_keeps_people_apart(
    int8_embedder: OnnxEmbedder, people: list[Face], scenes: dict[str, Face]
) -> None:
    assert int8_embedder.model_id == DLIB_INT8_ID
    card = json.loads((int8_embedder.path.with_name("dlib_resnet_v1_int8.onnx.json")).read_text())
    assert card["quantization"]["calibration_chips"] == 11
    faces = [*people, *scenes.values()]
    ref: list[Embedding] = []
    got: list[Embedding] = []
    chips = []
    for face in faces:
        ref += face.embeddings
        got += int8_embedder.embed(face.image, face.boxes, landmarks=face.landmarks)
        chips += int8_embedder.face_chips(face.image, face.boxes, landmarks=face.landmarks)
    cosines = _cosines(ref, got)
    # int8 kernels differ between CPUs, so what must hold on every one is that the edge's
    # self-check, run on these real faces, decides as the measured cosines say
    check = int8_self_check(int8_embedder.path.parent, chips=chips)
    assert check.chips == len(ref) == 16
    assert check.cosine_min is not None
    assert check.cosine_min == pytest.approx(cosines.min(), abs=1e-5)  # float ONNX == dlib
    assert check.ok == (cosines.min() >= INT8_MIN_COSINE)
    if not check.ok:
        assert "differs from float" in check.reason
        return
    # genuine/impostor separation on people/ at int8's own calibrated threshold
    calibration = load_calibration(DLIB_INT8_ID)
    vectors = got[: len(people)]
    genuine: list[float] = []
    impostor: list[float] = []
    for (a, va), (b, vb) in itertools.combinations(zip(people, vectors, strict=True), 2):
        d = float(np.linalg.norm(va.vector - vb.vector))
        (genuine if a.identity == b.identity else impostor).append(d)
    assert max(genuine) < calibration.threshold < min(impostor)


def test_shipped_calibrations_for_the_onnx_models() -> None:
    float_cal = load_calibration(DLIB_FLOAT_ID)  # the converted float model reuses dlib's
    int8_cal = load_calibration(DLIB_INT8_ID)
    assert int8_cal.model_id == DLIB_INT8_ID
    assert int8_cal.images == float_cal.images == 11
    assert int8_cal.genuine.max is not None
    assert int8_cal.impostor.min is not None
    assert int8_cal.genuine.max < int8_cal.threshold < int8_cal.impostor.min


# -- selecting the backend --------------------------------------------------------------------


def test_registry_builds_onnx_by_name_json_or_config(model_dir: Path) -> None:
    plain = create_embedder("onnx")
    assert isinstance(plain, OnnxEmbedder)
    assert isinstance(plain, FaceEmbedder)
    assert not plain.loaded
    assert plain.model_id == DLIB_FLOAT_ID
    assert plain.spec == INPUT_PRESETS["dlib"]
    # a one-line setting, as VERTROUWD_EDGE_EMBEDDER / the server's embedder setting hold it
    spec = json.dumps({"type": "onnx", "int8": True, "model_dir": str(model_dir), "threads": 1})
    from_json = create_embedder(spec)
    assert isinstance(from_json, OnnxEmbedder)
    assert (from_json.model_id, from_json.threads) == (DLIB_INT8_ID, 1)
    from edge.settings import EdgeSettings

    settings = EdgeSettings(embedder=spec)
    assert isinstance(create_embedder(settings.embedder), OnnxEmbedder)
    config = embedder_config("onnx", input="arcface", normalize=True)
    assert isinstance(config, OnnxEmbedderConfig)
    assert config.input_spec.size == 112


def test_onnx_config_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs sha256 and model_id"):
        create_embedder("onnx", model=str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="sha256"):
        create_embedder("onnx", model="m.onnx", sha256="abc", model_id="m")
    with pytest.raises(ValueError, match="reserved"):
        create_embedder("onnx", model="m.onnx", sha256="0" * 64, model_id=DLIB_FLOAT_ID)
    with pytest.raises(ValueError, match="int8"):
        create_embedder("onnx", model="m.onnx", sha256="0" * 64, model_id="m", int8=True)
    with pytest.raises(ValueError, match="go with a model file"):
        create_embedder("onnx", sha256="0" * 64)
    with pytest.raises(ValueError, match="Extra inputs"):
        create_embedder("onnx", gpu=True)
    with pytest.raises(ValueError, match="not valid JSON"):
        create_embedder('{"type": "onnx",')
    with pytest.raises(ValueError, match="std"):
        create_embedder("onnx", input={"size": 112, "mean": [0, 0, 0], "std": [1, 0, 1]})
    for cls in (DlibResnetConfig, OnnxEmbedderConfig):
        assert cls.model_config.get("extra") == "forbid"
        for name, field in cls.model_fields.items():
            if name != "type":
                assert field.description, f"{cls.__name__}.{name} needs a description"


def test_missing_converted_model_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="vertrouwd models convert-dlib"):
        OnnxEmbedder(model_dir=tmp_path).load()
    with pytest.raises(BackendUnavailable, match="--int8 --calibration"):
        OnnxEmbedder(model_dir=tmp_path, int8=True).load()


def test_changed_converted_model_is_refused(model_dir: Path, tmp_path: Path) -> None:
    for name in ("dlib_resnet_v1.onnx", "dlib_resnet_v1.onnx.json"):
        shutil.copy(model_dir / name, tmp_path / name)
    with (tmp_path / "dlib_resnet_v1.onnx").open("ab") as f:
        f.write(b"\x00")
    with pytest.raises(ModelChecksumError, match=r"refusing to load .*SHA-256"):
        OnnxEmbedder(model_dir=tmp_path).load()


def test_providers_are_chosen_from_what_is_available(
    onnx_embedder: OnnxEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(None, gpu) == gpu
    assert choose_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(["CUDAExecutionProvider"], gpu) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    # an ordered preference from the settings: what this build lacks is skipped, with a log line
    with caplog.at_level(logging.WARNING, logger="models.backends.onnx"):
        wanted = ["TensorrtExecutionProvider", "OpenVINOExecutionProvider", "CUDAExecutionProvider"]
        assert choose_providers(wanted, gpu) == [
            "TensorrtExecutionProvider",
            "CUDAExecutionProvider",
            "CPUExecutionProvider",
        ]
        assert choose_providers(["CUDAExecutionProvider"], ["CPUExecutionProvider"]) == [
            "CPUExecutionProvider"
        ]
    skipped = [r.getMessage() for r in caplog.records]
    assert any("no OpenVINOExecutionProvider; skipped" in m for m in skipped)
    assert any("no CUDAExecutionProvider; skipped" in m for m in skipped)
    import onnxruntime as ort

    available = ort.get_available_providers()
    assert onnx_embedder.providers == choose_providers(None, available)


# -- another ONNX model: file + checksum + input spec, calibrated by the CLI ------------------


def _tiny_arcface_style_model(path: Path) -> None:
    """A small fixed conv net on 112x112 chips (ArcFace-style input), built with onnx.helper."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w1 = rng.normal(0, 0.1, (16, 3, 8, 8)).astype(np.float32)
    w2 = rng.normal(0, 0.1, (16 * 14 * 14, 64)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Flatten", ["r1"], ["f1"], axis=1),
        helper.make_node("MatMul", ["f1", "w2"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 64])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    path.write_bytes(model.SerializeToString())


@pytest.fixture
def tiny_model(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "tiny.onnx"
    _tiny_arcface_style_model(path)
    return path, sha256_file(path)


def test_foreign_model_with_checksum_and_input_spec(tiny_model: tuple[Path, str]) -> None:
    path, sha = tiny_model
    e = create_embedder("onnx", model=str(path), sha256=sha, model_id="tiny_v1", input="arcface")
    assert isinstance(e, OnnxEmbedder)
    e.load()
    assert (e.model_id, e.dim) == ("tiny_v1", 64)
    chip = np.full((112, 112, 3), 127, dtype=np.uint8)
    (emb,) = e.embed_chips([chip])
    assert emb.model_id == "tiny_v1"
    assert emb.vector.shape == (64,)
    wrong = create_embedder("onnx", model=str(path), sha256="f" * 64, model_id="tiny_v1")
    with pytest.raises(ModelChecksumError, match=f"refusing to load {path}.*{sha}"):
        wrong.load()
    # the 150-pixel dlib spec does not fit a 112-pixel input
    mismatch = create_embedder("onnx", model=str(path), sha256=sha, model_id="tiny_v1")
    with pytest.raises(ValueError, match="the input spec says"):
        mismatch.load()


@pytest.mark.faces
def test_calibrate_cli_with_an_onnx_model(
    tiny_model: tuple[Path, str],
    faces_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, sha = tiny_model
    out = tmp_path / "tiny_v1.json"
    options = [
        "--embedder",
        "onnx",
        "-o",
        f"model={path}",
        "-o",
        f"sha256={sha}",
        "-o",
        "model_id=tiny_v1",
        "-o",
        "input=arcface",
        "-o",
        "normalize=true",
    ]
    argv = ["calibrate", str(faces_dir / "people"), *options, "--output", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "calibration of tiny_v1 on people/: 6 identities, 11 images" in printed
    written = Calibration.model_validate_json(out.read_text())
    assert written.model_id == "tiny_v1"
    assert (written.genuine.count, written.impostor.count) == (5, 50)
    assert 0.0 < written.threshold < 2.0
    # a wrong checksum is refused with a clear error and nothing is written
    bad = [o if not o.startswith("sha256=") else "sha256=" + "0" * 64 for o in options]
    out2 = tmp_path / "refused.json"
    assert main(["calibrate", str(faces_dir / "people"), *bad, "--output", str(out2)]) == 2
    err = capsys.readouterr().err
    assert "refusing to load" in err
    assert "SHA-256" in err
    assert not out2.exists()
    assert main(["calibrate", str(faces_dir), "-o", "novalue"]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


def test_convert_cli_refusals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["convert-dlib", "--out", str(tmp_path), "--int8"]) == 2
    assert "--int8 needs --calibration DIR" in capsys.readouterr().err
    assert main(["convert-dlib", "--out", str(tmp_path), "--calibration", str(tmp_path)]) == 2
    assert "--calibration is for --int8" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
