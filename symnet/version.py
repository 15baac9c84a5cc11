"""The version of symnet, in one place below every stage (the package, the kernels' headers and the CLI read it)."""
__version__ = "0.1.0"
