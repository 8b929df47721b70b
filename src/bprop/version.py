"""The version of bprop (one place, read by model files and the command line)."""

__version__ = "0.1.0"
