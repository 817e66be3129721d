"""Helper module of two_utils_a, next to model.py in the version directory."""

VALUE = "value from two_utils_a"
