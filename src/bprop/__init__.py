"""bprop: multi-layer perceptrons trained by backpropagation — exact, fast, explainable."""

from .activations import ACTIVATIONS as ACTIVATIONS
from .activations import get_activation as get_activation
from .gradcheck import GradcheckResult as GradcheckResult
from .gradcheck import gradcheck as gradcheck
from .layers import Dense as Dense
from .layers import Layer as Layer
from .losses import LOSSES as LOSSES
from .losses import get_loss as get_loss
from .network import Sequential as Sequential
from .network import mlp as mlp
from .optimizers import SGD as SGD
from .optimizers import Optimizer as Optimizer
from .recording import Trace as Trace

__version__ = "0.1.0"
