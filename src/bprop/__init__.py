"""bprop: multi-layer perceptrons trained by backpropagation — exact, fast, explainable."""

from . import schedules as schedules
from .activations import ACTIVATIONS as ACTIVATIONS
from .activations import get_activation as get_activation
from .batches import evaluate as evaluate
from .callbacks import Callback as Callback
from .callbacks import ProgressBar as ProgressBar
from .callbacks import TrainingState as TrainingState
from .diagnostics import Diagnostics as Diagnostics
from .dropout import Dropout as Dropout
from .findings import Finding as Finding
from .findings import findings as findings
from .gradcheck import GradcheckResult as GradcheckResult
from .gradcheck import gradcheck as gradcheck
from .history import History as History
from .layers import Dense as Dense
from .layers import Layer as Layer
from .losses import LOSSES as LOSSES
from .losses import get_loss as get_loss
from .network import Sequential as Sequential
from .network import mlp as mlp
from .optimizers import SGD as SGD
from .optimizers import Adam as Adam
from .optimizers import AdamW as AdamW
from .optimizers import Optimizer as Optimizer
from .optimizers import RMSprop as RMSprop
from .optimizers import get_optimizer as get_optimizer
from .recording import Trace as Trace
from .trainer import DivergenceWarning as DivergenceWarning
from .trainer import Trainer as Trainer
from .trainer import TrainerState as TrainerState
from .training import fit as fit

__version__ = "0.1.0"

# Model files need safetensors (the ``cli`` extra): import it on first use so ``import bprop`` needs numpy only.
_LAZY = {"save": "io", "load": "io", "Model": "io"}
# The scikit-learn estimators need the ``sklearn`` extra: same lazy import.
_LAZY |= {"MLPClassifier": "estimators", "MLPRegressor": "estimators"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
