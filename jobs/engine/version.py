"""The version of jobs, where the engine can read it without importing the package's public API."""

__version__ = "0.1.0"
