"""mpe_teach: learn how a model depends on its training data with the Memory-Perturbation
Equation (Nickl, Xu, Tailor, Möllenhoff, Khan, NeurIPS 2023), with ground truth by retraining."""
from .mlp import MLP
from .models import (ConvergenceWarning, LinearRegression, LogisticRegression, PoissonRegression,
                     SoftmaxRegression)
from .mpe import PerturbationWarning, Sensitivity
from .sklearn_bridge import from_sklearn
from .training import train

__all__ = ["LinearRegression", "LogisticRegression", "SoftmaxRegression", "PoissonRegression", "MLP",
           "Sensitivity", "ConvergenceWarning", "PerturbationWarning", "train", "from_sklearn"]
__version__ = "0.2.0"
