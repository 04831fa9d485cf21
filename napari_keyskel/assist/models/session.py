"""An onnxruntime session for a pose model: providers, clear errors, the graph's description.

Pure core (no Qt, no napari). onnxruntime is an extra (``pip install "napari-keyskel[models]"``);
it is imported only when a model is opened.

- :func:`select_providers` decides where a model runs: CUDA first when onnxruntime lists
  ``CUDAExecutionProvider`` (the ``onnxruntime-gpu`` package) and ``device`` allows it, then the
  CPU, which is always last so a session that cannot start on the GPU still runs.
- :func:`open_session` opens a model file and says, naming the file, why it cannot: no such file,
  not an ONNX model, a graph onnxruntime refuses.
- :func:`describe_graph` lists the inputs and outputs (name, shape with ``None`` for a dynamic
  axis, element type) and the model's metadata (Ultralytics writes ``kpt_shape``, ``imgsz``,
  ``names`` and, in newer versions, ``kpt_names`` there).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import KeyskelError

__all__ = [
    "DEVICES",
    "GraphInfo",
    "ModelError",
    "TensorInfo",
    "describe_graph",
    "import_onnxruntime",
    "open_session",
    "select_providers",
]

#: Where a model may run: ``"auto"`` (CUDA when onnxruntime has it, else the CPU), ``"cpu"``, ``"cuda"``.
DEVICES = ("auto", "cpu", "cuda")
_CUDA, _CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


class ModelError(KeyskelError):
    """A model that cannot be opened or run; the message names the model file and the reason."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"model {self.path}: {reason}")


def import_onnxruntime() -> Any:
    """Import onnxruntime, or raise :class:`KeyskelError` saying which package to install."""
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - the testing extra has it
        raise KeyskelError(
            'running a model needs onnxruntime: pip install "napari-keyskel[models]" '
            "(or onnxruntime-gpu for CUDA)"
        ) from None
    return onnxruntime


def select_providers(available: Sequence[str], device: str = "auto") -> list[str]:
    """Execution providers in order of preference for ``device`` given onnxruntime's ``available``.

    ``"auto"``: CUDA first when available, then the CPU; ``"cpu"``: the CPU only; ``"cuda"``: CUDA
    then the CPU, and a :class:`KeyskelError` when onnxruntime has no CUDA provider.
    """
    if device not in DEVICES:
        raise KeyskelError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    has_cuda = _CUDA in available
    if device == "cuda" and not has_cuda:
        raise KeyskelError(
            f"device 'cuda' asked for, but onnxruntime offers {list(available)} "
            "(install onnxruntime-gpu, with a CUDA GPU and driver)"
        )
    if device != "cpu" and has_cuda:
        return [_CUDA, _CPU]
    return [_CPU]


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a graph: ``shape`` holds ``None`` for a dynamic axis."""

    name: str
    shape: tuple[int | None, ...]
    type: str

    def __str__(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"'{self.name}' [{dims}] {self.type.replace('tensor(', '').rstrip(')')}"


@dataclass(frozen=True)
class GraphInfo:
    """What a session's graph takes and gives, and its metadata (values parsed when literal)."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    def found(self) -> str:
        """A one-line summary of the inputs and outputs, for error messages."""
        ins = ", ".join(str(t) for t in self.inputs) or "none"
        outs = ", ".join(str(t) for t in self.outputs) or "none"
        return f"inputs {ins}; outputs {outs}"


def _dims(shape: Any) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in (shape or ()))


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def describe_graph(session: Any) -> GraphInfo:
    """The inputs, outputs and custom metadata of an onnxruntime ``InferenceSession``."""
    ins = tuple(TensorInfo(t.name, _dims(t.shape), str(t.type)) for t in session.get_inputs())
    outs = tuple(TensorInfo(t.name, _dims(t.shape), str(t.type)) for t in session.get_outputs())
    raw = session.get_modelmeta().custom_metadata_map or {}
    return GraphInfo(ins, outs, {str(k): _literal(str(v)) for k, v in raw.items()})


def _reason(exc: BaseException) -> str:
    """The message of an onnxruntime error without its ``[ONNXRuntimeError] : 7 : CODE :`` prefix."""
    text = str(exc).strip()
    if text.startswith("[ONNXRuntimeError]"):
        text = text.split(":", 3)[-1].strip()
    if "Status Message:" in text:  # a kernel failure: the node, then its C++ source place
        node = text.split("Status Message:")[0].replace("Non-zero status code returned while running", "")
        msg = text.split("Status Message:", 1)[1]
        msg = re.sub(r"^\s*\S+\.(?:h|cc|cpp):\d+\s.*?(?:was false\.|\)\s)", "", msg, flags=re.S).strip()
        text = f"{node.strip().rstrip('.')}: {msg}"
    return text.splitlines()[0] if text else type(exc).__name__


def open_session(path: str | Path, device: str = "auto", threads: int | None = None) -> tuple[Any, list[str]]:
    """Open an ONNX model with onnxruntime; returns ``(session, providers in use)``.

    Raises :class:`ModelError` naming the file when it is missing, is not an ONNX model, or
    onnxruntime cannot build a session for it. ``threads``: intra-op threads (default: onnxruntime's).
    """
    ort = import_onnxruntime()
    p = Path(path)
    if not p.is_file():
        raise ModelError(p, "no such file" if not p.exists() else "not a file")
    with p.open("rb") as fh:
        head = fh.read(64)
    if not head:
        raise ModelError(p, "the file is empty, not an ONNX model")
    providers = select_providers(ort.get_available_providers(), device)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: errors reach the person through ModelError
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        session = ort.InferenceSession(str(p), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        reason = _reason(exc)
        low = reason.lower()
        if "protobuf" in low or "parse" in low or ("load model" in low and "failed" in low):
            raise ModelError(p, f"not an ONNX model (onnxruntime: {reason})") from None
        raise ModelError(p, f"onnxruntime cannot open it: {reason}") from None
    return session, list(session.get_providers())
