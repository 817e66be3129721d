"""tritonlite: a pure-Python inference server compatible with NVIDIA Triton's Python backend."""

__version__ = "0.1.0"
TRITON_COMPAT_VERSION = "2.51.0"
