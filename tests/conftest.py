"""Shared fixtures: devices to run on, and where real MNIST lives."""
import os
import pathlib

import pytest

from tinygen import backend

REPO = pathlib.Path(__file__).resolve().parents[1]


def devices():
    """Every test that takes `device` runs on the CPU, and on CUDA where a GPU is present."""
    return [
        "cpu",
        pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not backend.gpu_available(),
                                                                          reason="no CuPy/CUDA GPU here")]),
    ]


@pytest.fixture(params=devices())
def device(request):
    return request.param
