"""Convert dlib's face embedding network (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

The weights are read from dlib's own serialisation of the network, as installed by the
``face_recognition_models`` package; nothing is downloaded. The result is the same network, layer
for layer, with each ``affine`` (frozen batch norm) folded into the convolution before it, so
onnxruntime gives the same 128-d embedding as dlib (cosine >= 0.9999, |diff| < 1e-3, tested).

The network (``anet_type`` in dlib's ``examples/dnn_face_recognition_ex.cpp``)
===========================================================================
::

    loss_metric < fc_no_bias<128> < avg_pool_everything <
        level0: ares_down<256>
        level1: ares<256>, ares<256>, ares_down<256>
        level2: ares<128>, ares<128>, ares_down<128>
        level3: ares<64>, ares<64>, ares<64>, ares_down<64>
        level4: ares<32>, ares<32>, ares<32>
        max_pool<3,3,2,2> < relu < affine < con<32,7,7,2,2> < input_rgb_image_sized<150> >>>>

    ares<N>      = relu < add_prev1 < block<N, stride 1> < tag1 < x >>>>
    ares_down<N> = relu < add_prev2 < avg_pool<2,2,2,2> < skip1 < tag2 <
                       block<N, stride 2> < tag1 < x >>>>>>>
    block<N, s>  = affine < con<N,3,3,1,1> < relu < affine < con<N,3,3,s,s> < x >>>>>

(outermost first; ``a < b`` means ``a`` applied to the output of ``b``). A convolution pads by
``size/2`` when its stride is 1 and not at all otherwise; pooling likewise. ``add_prev`` adds two
tensors of different shapes by zero-padding both to the larger size in every dimension (at the
end: more channels, more rows, more columns) - this happens in the down-sampling blocks, e.g.
3x3 + 4x4 at level 1. ``input_rgb_image_sized`` turns an RGB chip into ``(x - mean) / 256`` per
channel, planar (NCHW), with the means stored in the file (122.782, 117.001, 104.298).

The file format (dlib ``serialize``)
====================================
Scalars (``dlib/serialize.h``):

* integers (``int``, ``long``, ``size_t``...): one control byte - bit 7 set for a negative
  number, bits 0-3 the count of bytes that follow - then the absolute value, little-endian.
  ``01 02`` is 2, ``81 1c`` is -28, ``00`` is 0.
* ``float``/``double``: NOT IEEE bytes but dlib's portable ``float_details``: the mantissa
  (``int64``) then the exponent (``int16``), each as an integer above; the value is
  ``mantissa * 2**exponent`` (exponent 32000/32001/32002 mean +inf/-inf/NaN).
  ``03 0a d7 a3 | 81 1c`` is 10737418 * 2**-28 = 0.04.
* ``bool``: one ASCII byte, ``'1'`` or ``'0'``.
* ``std::string``: its length as an integer, then the bytes. Each layer starts with its name
  and version as such a string, e.g. ``"con_4"``, ``"affine_"``, ``"relu_2"``.

Tensors (``dlib/cuda/tensor.h``): ``resizable_tensor`` = version int (2), ``num_samples``, ``k``,
``nr``, ``nc`` as integers, then the ``n*k*nr*nc`` values as raw little-endian IEEE float32 (the
one place dlib writes raw floats: for compactness). ``alias_tensor`` (a view into a layer's
``params``) = version int (1) and the four dimensions, no data.

Network (``dlib/dnn/core.h``): the objects nest as the C++ types do, outermost first, and each
writes its sub-network *before* its own layer, so the file is the chain of versions from the
loss layer down to the input, then the layers from the input up:

* ``add_loss_layer``: version (1), the loss details, the sub-network.
  ``loss_metric_``: ``"loss_metric_2"``, ``margin`` (float), ``dist_thresh`` (float).
* ``add_layer`` (a layer over a sub-network): version (2), sub-network, layer details,
  ``this_layer_setup_called``, ``gradient_input_is_stale``,
  ``get_output_and_gradient_input_disabled`` (bools), ``x_grad``, ``cached_output``,
  ``params_grad`` (tensors; empty in a saved model).
* ``add_layer`` over the input layer: version (2 or 3), the input layer, layer details, the
  three bools, ``x_grad``, ``cached_output``, ``grad_final`` (tensors), and in version 3
  ``_sample_expansion_factor`` (int).
* ``add_tag_layer`` / ``add_skip_layer``: version (1) and the sub-network, nothing else - so the
  file does not say which tag or skip it is: that comes from the network type above, and the
  converter checks the file's chain of versions and layer names against it.

Layer details (``dlib/dnn/layers.h``, ``dlib/dnn/input.h``):

* ``input_rgb_image_sized``: name, ``avg_red``, ``avg_green``, ``avg_blue`` (floats), NR, NC.
* ``con_``: name (``con_4``/``con_5``/``con_6``), ``params`` (tensor: the filters
  ``num_filters x k x nr x nc``, then ``num_filters`` biases), ``num_filters``, ``nr``, ``nc``,
  ``stride_y``, ``stride_x``, ``padding_y``, ``padding_x`` (ints), ``filters``, ``biases``
  (alias tensors), four learning-rate/decay multipliers (floats); ``con_5`` adds ``use_bias``,
  ``con_6`` also ``use_relu`` (bools).
* ``affine_``: name (``affine_``/``affine_2``), ``params`` (``gamma`` then ``beta``), ``gamma``,
  ``beta`` (alias tensors), ``mode`` (int: 0 per channel, 1 per element); ``affine_2`` adds
  ``disabled`` (bool). Output ``gamma * x + beta``.
* ``relu_``: name; ``relu_2`` adds ``disabled``.
* ``max_pool_2``/``avg_pool_2``: ``nr``, ``nc``, ``stride_y``, ``stride_x``, ``padding_y``,
  ``padding_x``; ``nr == nc == 0`` pools the whole plane (``avg_pool_everything``).
* ``add_prev_``: the name only.
* ``fc_``: name (``fc_2``/``fc_3``), ``num_outputs``, ``num_inputs``, ``params`` (the weights
  ``num_inputs x num_outputs``, row-major, then the biases if any), ``weights``, ``biases``
  (alias tensors), ``bias_mode`` (int: 1 = no bias), four multipliers; ``fc_3`` adds
  ``use_bias``. Output ``x @ weights`` (+ biases).

Everything read is checked (names, versions, shapes, sizes, the end of the file), so a file that
is not this network is refused with :class:`DlibFormatError` naming the offset.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from consent.files import write_atomic
from models.backends.onnx import DLIB_FLOAT_ID, DLIB_INT8_ID, preprocess, sha256_file
from models.registry import INPUT_PRESETS
from models.types import BackendUnavailable, RGBImage

__all__ = [
    "DLIB_MODEL_SHA256",
    "DlibFormatError",
    "DlibNet",
    "calibration_chips",
    "card_path",
    "compare_with_dlib",
    "convert",
    "dlib_model_path",
    "quantize_int8",
    "random_chips",
    "read_dlib_net",
    "to_onnx",
]

DLIB_MODEL_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
"""SHA-256 of ``dlib_face_recognition_resnet_model_v1.dat`` (face_recognition_models 0.3.0)."""

OPSET = 13
"""ONNX opset of the converted model: old enough for the onnxruntime of Jetson/Raspberry Pi OS
images and for TensorRT, new enough for everything used here."""
IR_VERSION = 7

Array = npt.NDArray[np.float32]


class DlibFormatError(ValueError):
    """The file is not dlib's serialisation of the face embedding network."""


# -- scalar and tensor reading ------------------------------------------------------------------


class _Reader:
    """Reads dlib's serialised scalars, strings and tensors from a byte string."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{what} (at byte {self.pos} of {len(self.data)})")

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"unexpected end of file reading {n} bytes")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if control & 0x70 or size > 8:
            raise self.fail(f"bad integer control byte {control:#04x}")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent == 32000:
            return float("inf")
        if exponent == 32001:
            return float("-inf")
        if exponent == 32002:
            return float("nan")
        return float(np.ldexp(np.float64(mantissa), exponent))

    def flag(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {ch!r}")
        return ch == b"1"

    def string(self) -> str:
        n = self.integer()
        if n > 1024:
            raise self.fail(f"implausible string length {n}")
        return self._take(n).decode("ascii", errors="replace")

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        v = self.integer()
        if v not in allowed:
            raise self.fail(f"{what}: version {v}, expected {' or '.join(map(str, allowed))}")
        return v

    def name(self, allowed: tuple[str, ...], what: str) -> str:
        start = self.pos
        got = self.string()
        if got not in allowed:
            self.pos = start
            raise self.fail(f"expected {what} ({' or '.join(allowed)}), found {got!r}")
        return got

    def tensor(self) -> Array:
        """A ``resizable_tensor``: shape ``(n, k, nr, nc)`` and raw little-endian float32."""
        self.version((2,), "tensor")
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor dimension {shape}")
        count = int(np.prod(shape, dtype=np.int64))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.version((1,), "alias tensor")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return (n, k, nr, nc)


# -- the network's layers ----------------------------------------------------------------------


@dataclass(frozen=True)
class InputLayer:
    mean: tuple[float, float, float]  # R, G, B
    size: tuple[int, int]  # rows, columns
    scale: float = 1.0 / 256.0


@dataclass(frozen=True)
class Conv:
    weight: Array = field(repr=False)  # (out, in, kh, kw)
    bias: Array = field(repr=False)  # (out,)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    gamma: Array = field(repr=False)  # (channels,)
    beta: Array = field(repr=False)


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" | "avg"
    window: tuple[int, int]  # (0, 0): the whole plane
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    tag: int


@dataclass(frozen=True)
class Tag:
    id: int


@dataclass(frozen=True)
class Skip:
    id: int


@dataclass(frozen=True)
class Fc:
    weight: Array = field(repr=False)  # (inputs, outputs)
    bias: Array | None = field(repr=False, default=None)


Layer = Conv | Affine | Relu | Pool | AddPrev | Tag | Skip | Fc


@dataclass(frozen=True)
class DlibNet:
    """The network read from the file, layers from the input up (the order they run in)."""

    input: InputLayer
    layers: tuple[Layer, ...]
    loss: str
    sha256: str

    @property
    def embedding_dim(self) -> int:
        last = self.layers[-1]
        assert isinstance(last, Fc)
        return int(last.weight.shape[1])


# -- the expected architecture (anet_type), outermost first -----------------------------------

# ("layer", kind, spec) | ("tag", id) | ("skip", id); spec holds what the file must agree with.
_Node = tuple[Any, ...]


def _block(n: int, stride: int) -> list[_Node]:
    return [
        ("layer", "affine", {}),
        ("layer", "con", {"filters": n, "kernel": (3, 3), "stride": (1, 1)}),
        ("layer", "relu", {}),
        ("layer", "affine", {}),
        ("layer", "con", {"filters": n, "kernel": (3, 3), "stride": (stride, stride)}),
    ]


def _ares(n: int) -> list[_Node]:
    return [("layer", "relu", {}), ("layer", "add_prev", {"tag": 1}), *_block(n, 1), ("tag", 1)]


def _ares_down(n: int) -> list[_Node]:
    return [
        ("layer", "relu", {}),
        ("layer", "add_prev", {"tag": 2}),
        ("layer", "avg_pool", {"window": (2, 2), "stride": (2, 2)}),
        ("skip", 1),
        ("tag", 2),
        *_block(n, 2),
        ("tag", 1),
    ]


def _anet_type() -> list[_Node]:
    nodes: list[_Node] = [
        ("layer", "fc", {"outputs": 128, "bias": False}),
        ("layer", "avg_pool", {"window": (0, 0), "stride": (1, 1)}),
    ]
    nodes += _ares_down(256)
    nodes += _ares(256) + _ares(256) + _ares_down(256)
    nodes += _ares(128) + _ares(128) + _ares_down(128)
    nodes += _ares(64) + _ares(64) + _ares(64) + _ares_down(64)
    nodes += _ares(32) + _ares(32) + _ares(32)
    nodes += [
        ("layer", "max_pool", {"window": (3, 3), "stride": (2, 2)}),
        ("layer", "relu", {}),
        ("layer", "affine", {}),
        ("layer", "con", {"filters": 32, "kernel": (7, 7), "stride": (2, 2)}),
    ]
    return nodes


# -- reading the file --------------------------------------------------------------------------


def _read_input(r: _Reader) -> InputLayer:
    r.name(("input_rgb_image_sized",), "the input layer")
    mean = (r.real(), r.real(), r.real())
    nr, nc = r.integer(), r.integer()
    if nr <= 0 or nc <= 0:
        raise r.fail(f"bad input size {nr}x{nc}")
    return InputLayer(mean=(mean[0], mean[1], mean[2]), size=(nr, nc))


def _check(r: _Reader, ok: bool, what: str) -> None:
    if not ok:
        raise r.fail(what)


def _read_con(r: _Reader, spec: dict[str, Any]) -> Conv:
    version = r.name(("con_4", "con_5", "con_6"), "a convolution")
    params = r.tensor().reshape(-1)
    num_filters = r.integer()
    nr, nc = r.integer(), r.integer()
    stride = (r.integer(), r.integer())
    padding = (r.integer(), r.integer())
    fshape = r.alias_tensor()
    bshape = r.alias_tensor()
    for _ in range(4):
        r.real()  # learning-rate and weight-decay multipliers: training only
    use_bias = r.flag() if version in ("con_5", "con_6") else True
    use_relu = r.flag() if version == "con_6" else False
    _check(r, num_filters == spec["filters"], f"convolution: {num_filters} filters")
    _check(r, (nr, nc) == spec["kernel"], f"convolution: kernel {nr}x{nc}")
    _check(r, stride == spec["stride"], f"convolution: stride {stride}")
    _check(r, not use_relu, "convolution with a fused relu is not part of this network")
    expected_pad = tuple(0 if s != 1 else k // 2 for s, k in zip(stride, (nr, nc), strict=True))
    _check(r, padding == expected_pad, f"convolution: padding {padding}")
    _check(r, fshape[0] == num_filters and fshape[2:] == (nr, nc), f"filters shape {fshape}")
    n_w = int(np.prod(fshape))
    n_b = num_filters if use_bias else 0
    _check(r, params.size == n_w + n_b, f"convolution: {params.size} parameters")
    if use_bias:
        _check(r, bshape[0] * bshape[1] == num_filters, f"bias shape {bshape}")
    weight = params[:n_w].reshape(fshape)
    bias = params[n_w:] if use_bias else np.zeros(num_filters, np.float32)
    return Conv(weight, bias, stride, padding)


def _read_affine(r: _Reader) -> Affine | None:
    version = r.name(("affine_", "affine_2"), "an affine (frozen batch norm) layer")
    params = r.tensor().reshape(-1)
    gshape = r.alias_tensor()
    bshape = r.alias_tensor()
    mode = r.integer()
    disabled = r.flag() if version == "affine_2" else False
    _check(r, mode == 0, f"affine layer in mode {mode}, expected per-channel (0)")
    n = int(np.prod(gshape))
    _check(r, gshape == bshape and params.size == 2 * n, "affine: inconsistent parameters")
    if disabled:
        return None
    return Affine(params[:n].copy(), params[n:].copy())


def _read_relu(r: _Reader) -> Relu | None:
    version = r.name(("relu_", "relu_2"), "a relu layer")
    disabled = r.flag() if version == "relu_2" else False
    return None if disabled else Relu()


def _read_pool(r: _Reader, kind: str, spec: dict[str, Any]) -> Pool:
    r.name((f"{kind}_2",), f"a {kind.replace('_', ' ')} layer")
    window = (r.integer(), r.integer())
    stride = (r.integer(), r.integer())
    padding = (r.integer(), r.integer())
    _check(r, window == spec["window"], f"{kind}: window {window}")
    _check(r, stride == spec["stride"], f"{kind}: stride {stride}")
    if window != (0, 0):
        expected = tuple(0 if s != 1 else w // 2 for s, w in zip(stride, window, strict=True))
        _check(r, padding == expected, f"{kind}: padding {padding}")
    return Pool(kind.split("_")[0], window, stride, padding)


def _read_fc(r: _Reader, spec: dict[str, Any]) -> Fc:
    version = r.name(("fc_2", "fc_3"), "a fully connected layer")
    outputs, inputs = r.integer(), r.integer()
    params = r.tensor().reshape(-1)
    wshape = r.alias_tensor()
    r.alias_tensor()
    bias_mode = r.integer()
    for _ in range(4):
        r.real()
    use_bias = r.flag() if version == "fc_3" else True
    has_bias = bias_mode == 0 and use_bias
    _check(r, outputs == spec["outputs"], f"fc: {outputs} outputs")
    _check(r, has_bias == spec["bias"], "fc: unexpected bias")
    _check(r, wshape[:2] == (inputs, outputs), f"fc: weights shape {wshape}")
    n_w = inputs * outputs
    _check(r, params.size == n_w + (outputs if has_bias else 0), "fc: parameter count")
    weight = params[:n_w].reshape(inputs, outputs)
    return Fc(weight, params[n_w:].copy() if has_bias else None)


def _read_details(r: _Reader, kind: str, spec: dict[str, Any]) -> Layer | None:
    if kind == "con":
        return _read_con(r, spec)
    if kind == "affine":
        return _read_affine(r)
    if kind == "relu":
        return _read_relu(r)
    if kind in ("max_pool", "avg_pool"):
        return _read_pool(r, kind, spec)
    if kind == "add_prev":
        r.name(("add_prev_",), "an add_prev layer")
        return AddPrev(spec["tag"])
    if kind == "fc":
        return _read_fc(r, spec)
    raise AssertionError(kind)  # pragma: no cover


def _read_layer_state(r: _Reader, *, innermost_version: int | None) -> None:
    """Skip the training state an ``add_layer`` writes after its layer (unused for inference)."""
    for _ in range(3):
        r.flag()
    for _ in range(3):  # x_grad, cached_output, params_grad (or grad_final)
        r.tensor()
    if innermost_version == 3:
        r.integer()  # _sample_expansion_factor


def read_dlib_net(path: Path | str) -> DlibNet:
    """Read ``dlib_face_recognition_resnet_model_v1.dat`` (see the module docstring)."""
    data = Path(path).read_bytes()
    r = _Reader(data)
    r.version((1,), "add_loss_layer")
    loss = r.name(("loss_metric_2",), "the metric loss layer")
    r.real()  # margin
    r.real()  # dist_thresh
    nodes = _anet_type()
    # the chain of versions, outermost first; the innermost add_layer holds the input layer
    versions: list[int] = []
    for i, node in enumerate(nodes):
        innermost = i == len(nodes) - 1
        if node[0] == "layer":
            versions.append(r.version((2, 3) if innermost else (2,), f"add_layer ({node[1]})"))
        else:
            versions.append(r.version((1,), f"{node[0]} layer"))
    inp = _read_input(r)
    layers: list[Layer] = []
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if node[0] == "tag":
            layers.append(Tag(node[1]))
            continue
        if node[0] == "skip":
            layers.append(Skip(node[1]))
            continue
        layer = _read_details(r, node[1], node[2])
        _read_layer_state(r, innermost_version=versions[i] if i == len(nodes) - 1 else None)
        if layer is not None:
            layers.append(layer)
    if r.pos != len(data):
        raise r.fail("trailing bytes after the network")
    return DlibNet(inp, tuple(layers), loss, hashlib.sha256(data).hexdigest())


# -- shapes -------------------------------------------------------------------------------------


def _shape_after(layer: Layer, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    c, h, w = shape
    if isinstance(layer, Conv):
        kh, kw = layer.weight.shape[2:]
        return (
            int(layer.weight.shape[0]),
            1 + (h + 2 * layer.padding[0] - kh) // layer.stride[0],
            1 + (w + 2 * layer.padding[1] - kw) // layer.stride[1],
        )
    if isinstance(layer, Pool):
        if layer.window == (0, 0):
            return (c, 1, 1)
        return (
            c,
            1 + (h + 2 * layer.padding[0] - layer.window[0]) // layer.stride[0],
            1 + (w + 2 * layer.padding[1] - layer.window[1]) // layer.stride[1],
        )
    return shape


# -- building the ONNX graph --------------------------------------------------------------------


@dataclass
class _Value:
    name: str
    shape: tuple[int, int, int]  # C, H, W (the batch is dynamic)


@dataclass
class _Graph:
    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)
    counter: int = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def const(self, stem: str, array: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.fresh(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _pad_to(g: _Graph, v: _Value, shape: tuple[int, int, int]) -> str:
    """``v`` zero-padded at the end of each dimension to ``shape``, as dlib's ``add`` does."""
    if v.shape == shape:
        return v.name
    extra = [0, shape[0] - v.shape[0], shape[1] - v.shape[1], shape[2] - v.shape[2]]
    pads = np.array([0, 0, 0, 0, *extra], dtype=np.int64)
    return g.node("Pad", [v.name, g.const("pads", pads)], "pad", mode="constant")


def to_onnx(net: DlibNet, *, fold_affine: bool = True) -> Any:
    """The ONNX model (``onnx.ModelProto``) of ``net``.

    Input ``input``: float32 ``(N, 3, rows, cols)``, already normalised as
    ``(rgb - mean) / 256`` (see :class:`InputLayer`); output ``embedding``: float32 ``(N, 128)``.
    With ``fold_affine`` each affine layer that directly follows a convolution is folded into
    its weights (``w * gamma``, ``b * gamma + beta``); otherwise it stays a ``Mul`` + ``Add``.
    """
    from onnx import TensorProto, checker, helper

    g = _Graph()
    cur = _Value("input", (3, *net.input.size))
    tags: dict[int, _Value] = {}
    pending: Conv | None = None  # a convolution not emitted yet (an affine may fold into it)

    def emit_conv(conv: Conv, affine: Affine | None) -> None:
        nonlocal cur
        weight, bias = conv.weight.astype(np.float64), conv.bias.astype(np.float64)
        if affine is not None:
            gamma = affine.gamma.astype(np.float64)
            weight = weight * gamma[:, None, None, None]
            bias = bias * gamma + affine.beta.astype(np.float64)
        kh, kw = conv.weight.shape[2:]
        pad_y, pad_x = conv.padding
        w = g.const("w", weight.astype(np.float32))
        b = g.const("b", bias.astype(np.float32))
        out = g.node(
            "Conv",
            [cur.name, w, b],
            "conv",
            kernel_shape=[int(kh), int(kw)],
            strides=list(conv.stride),
            pads=[pad_y, pad_x, pad_y, pad_x],
        )
        cur = _Value(out, _shape_after(conv, cur.shape))

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            emit_conv(pending, None)
            pending = None

    for layer in net.layers:
        if isinstance(layer, Affine) and pending is not None and fold_affine:
            emit_conv(pending, layer)
            pending = None
            continue
        flush()
        if isinstance(layer, Conv):
            pending = layer
        elif isinstance(layer, Affine):
            shape = (-1, 1, 1)
            scaled = g.node("Mul", [cur.name, g.const("gamma", layer.gamma.reshape(shape))], "mul")
            cur = _Value(
                g.node("Add", [scaled, g.const("beta", layer.beta.reshape(shape))], "affine"),
                cur.shape,
            )
        elif isinstance(layer, Relu):
            cur = _Value(g.node("Relu", [cur.name], "relu"), cur.shape)
        elif isinstance(layer, Pool):
            if layer.window == (0, 0):
                op = "GlobalAveragePool" if layer.kind == "avg" else "GlobalMaxPool"
                out = g.node(op, [cur.name], "gpool")
            else:
                op = "AveragePool" if layer.kind == "avg" else "MaxPool"
                pad_y, pad_x = layer.padding
                attrs: dict[str, Any] = {
                    "kernel_shape": list(layer.window),
                    "strides": list(layer.stride),
                    "pads": [pad_y, pad_x, pad_y, pad_x],
                }
                if layer.kind == "avg":
                    attrs["count_include_pad"] = 0
                out = g.node(op, [cur.name], "pool", **attrs)
            cur = _Value(out, _shape_after(layer, cur.shape))
        elif isinstance(layer, Tag):
            tags[layer.id] = cur
        elif isinstance(layer, Skip):
            cur = tags[layer.id]
        elif isinstance(layer, AddPrev):
            other = tags[layer.tag]
            shape = (
                max(cur.shape[0], other.shape[0]),
                max(cur.shape[1], other.shape[1]),
                max(cur.shape[2], other.shape[2]),
            )
            out = g.node("Add", [_pad_to(g, cur, shape), _pad_to(g, other, shape)], "add")
            cur = _Value(out, shape)
        elif isinstance(layer, Fc):
            flat = g.node("Flatten", [cur.name], "flatten", axis=1)
            out = g.node("MatMul", [flat, g.const("fc_w", layer.weight)], "fc")
            if layer.bias is not None:
                out = g.node("Add", [out, g.const("fc_b", layer.bias)], "fc_bias")
            cur = _Value(out, (int(layer.weight.shape[1]), 1, 1))
    flush()
    # rename the last value to the graph output
    g.nodes.append(helper.make_node("Identity", [cur.name], ["embedding"], name="embedding"))
    rows, cols = net.input.size
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, rows, cols])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", net.embedding_dim])],
        g.inits,
    )
    model = helper.make_model(
        graph,
        producer_name="vertrouwd.models.convert_dlib",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    model.doc_string = (
        f"dlib_face_recognition_resnet_model_v1 (sha256 {net.sha256}) converted layer for layer; "
        f"input (rgb - {list(net.input.mean)}) / 256, NCHW"
    )
    checker.check_model(model)
    return model


# -- the whole conversion -----------------------------------------------------------------------


def dlib_model_path() -> Path:
    """The installed ``dlib_face_recognition_resnet_model_v1.dat`` (face_recognition_models)."""
    try:
        import face_recognition_models
    except ImportError as exc:
        raise BackendUnavailable(
            "converting dlib's network needs the package 'face_recognition_models': "
            "pip install face_recognition_models"
        ) from exc
    return Path(face_recognition_models.face_recognition_model_location())


def _import_onnx() -> Any:
    try:
        return importlib.import_module("onnx")
    except ImportError as exc:
        raise BackendUnavailable(
            "converting to ONNX needs the Python package 'onnx' (running the converted model "
            "does not): pip install onnx"
        ) from exc


def _write_atomic(path: Path, data: bytes) -> None:
    """A model or its card, whole or not at all after a crash (``consent.files``), readable by
    the service users that run the models."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=0o644)


def card_path(model: Path) -> Path:
    """The JSON card beside a converted model: model id, checksums, input spec, provenance."""
    return model.with_name(model.name + ".json")


def _write_card(model: Path, card: dict[str, Any]) -> None:
    _write_atomic(card_path(model), (json.dumps(card, indent=2) + "\n").encode())


def run_onnx(path: Path, chips: Sequence[RGBImage]) -> npt.NDArray[np.float32]:
    """Embeddings of dlib-input chips by the ONNX model at ``path`` (CPU, for checking)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    batch = preprocess(chips, INPUT_PRESETS["dlib"])
    (out, *_) = session.run(None, {session.get_inputs()[0].name: batch})
    return np.asarray(out, dtype=np.float32)


def compare_with_dlib(path: Path, chips: Sequence[RGBImage]) -> tuple[float, float]:
    """The smallest cosine and the largest absolute difference between the ONNX model's
    embeddings of ``chips`` and dlib's own."""
    from models.backends.dlib import DlibResnetEmbedder

    dlib = DlibResnetEmbedder()
    ref = np.stack([e.vector for e in dlib.embed_chips(list(chips))]).astype(np.float64)
    got = run_onnx(path, chips).astype(np.float64)
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return float(cos.min()), float(np.abs(ref - got).max())


def random_chips(n: int = 4, *, seed: int = 150) -> list[RGBImage]:
    """Deterministic noise chips of dlib's input size: enough to show two networks agree."""
    rng = np.random.default_rng(seed)
    size = INPUT_PRESETS["dlib"].size
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def calibration_chips(folder: Path, *, limit: int = 500) -> list[RGBImage]:
    """Aligned dlib chips of the faces in the photos under ``folder`` (searched recursively).

    For int8 calibration only; the chips stay in memory. Unreadable files are skipped.
    """
    from models.backends.dlib import DlibAligner, DlibHogDetector
    from models.calibration import IMAGE_SUFFIXES
    from models.images import ImageError, load_image_file

    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    detector, aligner = DlibHogDetector(upsample=1), DlibAligner()
    spec = INPUT_PRESETS["dlib"]
    chips: list[RGBImage] = []
    for file in sorted(root.rglob("*")):
        if file.suffix.lower() not in IMAGE_SUFFIXES or not file.is_file():
            continue
        try:
            image = load_image_file(file)
        except ImageError:
            continue
        boxes = detector.detect(image)
        chips += aligner.face_chips(image, boxes, size=spec.size, padding=spec.padding)
        if len(chips) >= limit:
            break
    return chips[:limit]


def convert(
    out: Path,
    *,
    source: Path | None = None,
    allow_unknown_source: bool = False,
    verify: bool = True,
) -> dict[str, Any]:
    """Convert dlib's network to ``out`` (ONNX) and write its card (``out`` + ``.json``).

    The card records the model id, the SHA-256 of the source and of the ONNX file, and the input
    spec; the ONNX embedder checks the file against it before loading. ``source`` defaults to
    the installed model, whose SHA-256 must be :data:`DLIB_MODEL_SHA256` unless
    ``allow_unknown_source`` (a file of the same architecture, e.g. retrained). With ``verify``
    (and the default source) the result is compared with dlib itself on :func:`random_chips`
    and refused - both files removed - unless cosine >= 0.9999 and |difference| < 1e-3.
    Returns the card (with ``check`` holding the comparison when made).
    """
    _import_onnx()
    src = source or dlib_model_path()
    digest = sha256_file(src)
    if digest != DLIB_MODEL_SHA256 and not allow_unknown_source:
        raise DlibFormatError(
            f"{src} has SHA-256 {digest}, not that of dlib_face_recognition_resnet_model_v1.dat "
            f"({DLIB_MODEL_SHA256})"
        )
    net = read_dlib_net(src)
    spec = INPUT_PRESETS["dlib"]
    if net.input.size != (spec.size, spec.size) or not np.array_equal(
        np.asarray(net.input.mean, np.float32), np.asarray(spec.mean, np.float32)
    ):
        raise DlibFormatError(f"{src}: input {net.input} is not the 'dlib' input preset")
    model = to_onnx(net)
    out = Path(out)
    _write_atomic(out, model.SerializeToString())
    card: dict[str, Any] = {
        "model_id": DLIB_FLOAT_ID,
        "sha256": sha256_file(out),
        "input": spec.model_dump(mode="json"),
        "source": src.name,
        "source_sha256": net.sha256,
        "opset": OPSET,
        "converter": "models.convert_dlib (affine folded into convolutions)",
    }
    if verify and source is None:
        cosine, diff = compare_with_dlib(out, random_chips())
        if not (cosine >= 0.9999 and diff < 1e-3):
            out.unlink(missing_ok=True)
            raise DlibFormatError(
                f"the converted network disagrees with dlib (cosine {cosine:.6f}, max "
                f"difference {diff:.2e}); nothing written"
            )
        card["check"] = {"chips": "random", "cosine_min": round(cosine, 7), "max_abs_diff": diff}
    _write_card(out, card)
    return card


def quantize_int8(
    float_model: Path, out: Path, calibration: Sequence[npt.NDArray[np.float32]]
) -> dict[str, Any]:
    """Quantise the converted float model to int8 and write it with its card.

    Static quantisation (``onnxruntime.quantization.quantize_static``) in QDQ format: weights
    uint8 per output channel, activations uint8 per tensor with ranges measured (MinMax) on
    ``calibration``, a sequence of preprocessed input batches (aligned face chips).
    Unsigned weights, not signed: onnxruntime's x86 kernel for uint8 x int8 without AVX-512
    VNNI sums pairs of products in saturating 16-bit (``vpmaddubsw``), which cost this network
    its accuracy on AVX2-only CPUs (min cosine to dlib 0.978 on the 16 real faces, measured
    under ``qemu-x86_64 -cpu Haswell``; 0.9996 with VNNI). uint8 x uint8 runs another kernel
    and measured the same on both (0.9994), and as fast; ``reduce_range`` (7-bit) measured
    0.9987 on both. The edge still runs :mod:`models.int8_check` before trusting it. Dynamic
    quantisation was measured and rejected: it turns the convolutions into ``ConvInteger``,
    which runs 3-10x *slower* than float on CPU; QDQ becomes ``QLinearConv``, about 2x faster.
    The embeddings differ from dlib's (cosine about 0.9995), so the model id is
    ``dlib_resnet_v1_int8`` with its own calibration.
    """
    _import_onnx()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(calibration) < 4:
        raise ValueError(f"int8 calibration needs at least 4 face chips, got {len(calibration)}")
    batches = [np.ascontiguousarray(b[None] if b.ndim == 3 else b) for b in calibration]

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            batch = next(self._it, None)
            return None if batch is None else {"input": batch}

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vertrouwd-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quantized = Path(tmp) / "int8.onnx"
        quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8,  # see the docstring: not QInt8
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
        _write_atomic(out, quantized.read_bytes())
    card: dict[str, Any] = {
        "model_id": DLIB_INT8_ID,
        "sha256": sha256_file(out),
        "input": INPUT_PRESETS["dlib"].model_dump(mode="json"),
        "source": float_model.name,
        "source_sha256": sha256_file(float_model),
        "quantization": {
            "method": "onnxruntime quantize_static, QDQ",
            "weights": "uint8, per output channel",
            "activations": "uint8, per tensor, MinMax ranges",
            "calibration_chips": sum(len(b) for b in batches),
        },
    }
    _write_card(out, card)
    return card
