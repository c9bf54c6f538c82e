"""Checks for the notebooks' exercises: one line that starts with ✓ or ✗, never an exception.

A notebook's exercise cell (cell tag ``exercise``) leaves its answer as ``None`` until the
learner writes it; the check cell after it (cell tag ``check``) calls ``check`` with the answer
and a test computed independently of the solution (a refit, a closed form, statsmodels):

    check("Exercise 1", answer_1, lambda a: np.allclose(a, refit_change, atol=1e-6),
          hint="Δf_i = v_i e_i / (1 − Λ_i v_i): use sens.variances_, errors_ and curvatures_")

Solutions live in ``notebooks/solutions/NN_exK.py`` and are never run on Run All; a learner
loads one into the exercise cell with ``%load solutions/NN_exK.py``.
"""
import numpy as np

__all__ = ["check", "close"]


def check(label, answer, test, hint=""):
    """Print "✓ label" when ``test(answer)`` is true, else "✗ label: why — hint".

    Never raises: an unanswered exercise (``answer is None`` or ``...``), an answer of the wrong
    shape or type, or a test that fails with an exception all print a ✗ line. Returns True/False.
    """
    tail = f" Hint: {hint}" if hint else ""
    if answer is None or answer is Ellipsis:
        print(f"✗ {label}: not answered yet.{tail}")
        return False
    try:
        ok = bool(test(answer))
    except Exception as err:  # the learner's answer may be anything: report, never raise
        print(f"✗ {label}: the answer could not be checked ({type(err).__name__}: {err}).{tail}")
        return False
    if ok:
        print(f"✓ {label}: correct.")
    else:
        print(f"✗ {label}: not yet right.{tail}")
    return ok


def close(answer, expected, rtol=1e-6, atol=1e-9):
    """True when ``answer`` has the shape of ``expected`` and agrees with it elementwise."""
    a, e = np.asarray(answer, dtype=float), np.asarray(expected, dtype=float)
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol))
