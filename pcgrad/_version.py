"""The version of pcgrad, defined here only (packaging reads it too)."""
__version__ = "0.1.0"
