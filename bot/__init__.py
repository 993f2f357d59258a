"""Kinfolk: a Discord bot for peer-support communities."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kinfolk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
