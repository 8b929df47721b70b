"""bprop: multi-layer perceptrons trained by backpropagation — exact, fast, explainable.

The sub-packages, in reading order (each may import only those before it, and ``files``/``memory``):

- ``nn/`` — the engine: activations, losses, initialisers, layers, the network, optimisers, schedules.
- ``training/`` — the :class:`Trainer` and :func:`fit`, batch sources, stopping rules, callbacks,
  History, checkpoints, interrupts, splits, the diagnostics recorder.
- ``insight/`` — looking without changing: gradcheck, Trace, findings, explain.
- ``tables/`` — CSV → arrays: reading with stored column types, encoding, targets, bundled datasets.
- ``report/`` — figures and the HTML report.
- ``export/`` — ONNX graphs of a model with its preprocessing (``export_onnx``).
- ``estimators/`` — scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` API over the same engine.
- ``playground/`` — the live page and its server: backprop stepped on this engine, every number shown.
- ``cli/`` — the ``bprop`` command.

Beside them: ``modelfile`` (one ``.safetensors`` file with checked JSON metadata), ``files`` (atomic
writes) and ``memory`` (what a run needs and may use). The names below are the public API.
"""

from .insight.findings import Finding as Finding
from .insight.findings import findings as findings
from .insight.gradcheck import GradcheckResult as GradcheckResult
from .insight.gradcheck import gradcheck as gradcheck
from .insight.recording import Trace as Trace
from .nn import schedules as schedules
from .nn.activations import ACTIVATIONS as ACTIVATIONS
from .nn.activations import get_activation as get_activation
from .nn.dropout import Dropout as Dropout
from .nn.layers import Dense as Dense
from .nn.layers import Layer as Layer
from .nn.losses import LOSSES as LOSSES
from .nn.losses import get_loss as get_loss
from .nn.network import Sequential as Sequential
from .nn.network import mlp as mlp
from .nn.optimizers import SGD as SGD
from .nn.optimizers import Adam as Adam
from .nn.optimizers import AdamW as AdamW
from .nn.optimizers import Optimizer as Optimizer
from .nn.optimizers import RMSprop as RMSprop
from .nn.optimizers import get_optimizer as get_optimizer
from .training.batches import evaluate as evaluate
from .training.callbacks import Callback as Callback
from .training.callbacks import ProgressBar as ProgressBar
from .training.callbacks import TrainingState as TrainingState
from .training.diagnostics import Diagnostics as Diagnostics
from .training.fit import fit as fit
from .training.history import History as History
from .training.trainer import DivergenceWarning as DivergenceWarning
from .training.trainer import Trainer as Trainer
from .training.trainer import TrainerState as TrainerState
from .version import __version__ as __version__

# Model files need safetensors (the ``cli`` extra): import it on first use so ``import bprop`` needs numpy only.
_LAZY = {"save": "modelfile", "load": "modelfile", "Model": "modelfile"}
# The scikit-learn estimators need the ``sklearn`` extra: same lazy import.
_LAZY |= {"MLPClassifier": "estimators", "MLPRegressor": "estimators"}
# ONNX export needs the ``onnx`` extra; skl2onnx's converters are registered on request.
_LAZY |= {"export_onnx": "export", "register_skl2onnx": "estimators"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
