"""Models that leave Python: ONNX graphs of a network and its stored preprocessing. Needs the ``onnx`` extra.
May import: nn, modelfile, tables, files, version (and onnx; onnxruntime only to check an export)."""

from .check import CheckResult as CheckResult
from .check import Comparison as Comparison
from .check import check_export as check_export
from .features import onnx_inputs as onnx_inputs
from .model import OPSET as OPSET
from .model import export_onnx as export_onnx
from .model import to_onnx as to_onnx
