"""finesim's version, importable from any layer (the root package imports everything lazily)."""

VERSION = "0.1.0"
