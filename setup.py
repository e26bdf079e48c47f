from setuptools import find_packages, setup

setup(
    name="tinygen",
    version="0.1.0",
    description="A small, readable autograd engine on NumPy/CuPy, and every autoencoder and GAN built on it",
    packages=find_packages(include=["tinygen", "tinygen.*"]),
    package_data={"tinygen": ["weights/*.npz"]},  # the metrics classifier's weights (tinygen/metrics.py)
    python_requires=">=3.9",
    install_requires=["numpy>=1.24", "tqdm>=4.62", "threadpoolctl>=3.1"],
    extras_require={
        "dev": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6", "matplotlib>=3.5", "pillow>=8", "scipy>=1.8"],
        "gpu": ["cupy-cuda12x>=13"],
        # PyTorch, the tests' oracle (the parity tests skip without it); never part of the dev install.
        "torch": ["torch==2.13.0"],
    },
)
