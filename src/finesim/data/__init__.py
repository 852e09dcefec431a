"""Readers for the files finesim takes: texts to encode, and later STS, NLI and CSFCube data."""
