"""Helpers for tinygen's own tests: fake_cupy, a strict stand-in for CuPy (see backend.py)."""
