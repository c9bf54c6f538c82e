"""One switch for BLAS threads. The matrices here are small: waking a second BLAS thread for
each product costs more than it saves (measured 2.5–4x slower on 2 cores), so the hot loops
(small-P solves, MLP training, checkpoints) run single-threaded."""
from threadpoolctl import ThreadpoolController

_CONTROLLER = None


def single_threaded_blas():
    """A context in which BLAS runs on one thread."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
