"""Helper module of two_utils_b, in the model directory (also on sys.path)."""

VALUE = "value from two_utils_b"
