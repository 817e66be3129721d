"""``import triton_python_backend_utils as pb_utils`` for models run by tritonlite.

A shim over :mod:`tritonlite.backends.python.pb_utils`, which holds the implementation and
documents it; this module re-exports its public names (including Triton's incidental
``json``, ``np`` and ``struct``).
"""

from tritonlite.backends.python.pb_utils import *  # noqa: F403
from tritonlite.backends.python.pb_utils import __all__ as __all__
