"""The shallow autoencoder of Ng's sparse autoencoder and Vincent's denoising one: one hidden layer.

    x (N, 1, 28, 28) -> flatten 784 -> Linear(784, code) -> Sigmoid -> h (N, code)   the code, in (0, 1)
    h (N, code)      -> Linear(code, 784) -> Sigmoid -> (N, 1, 28, 28)               pixel probabilities

The sparse and the denoising autoencoder are this network trained differently: what makes each
one is its loss (a penalty on h) or its input (a corrupted x), written in its example's step.
With a code larger than the image (1000 > 784) and neither, it is free to learn to copy.
"""
from tinygen import nn

IMAGE_SIZE = 28 * 28


class ShallowAutoencoder(nn.Module):
    """784 -> code (sigmoid) -> 784 (sigmoid). The code is sigmoid so that an activation is a
    firing rate in (0, 1), which the sparse autoencoder's KL penalty needs."""

    def __init__(self, code_size=1000):
        super().__init__()
        self.code_size = code_size
        self.encoder = nn.Sequential(nn.Linear(IMAGE_SIZE, code_size), nn.Sigmoid())
        self.decoder = nn.Sequential(nn.Linear(code_size, IMAGE_SIZE), nn.Sigmoid())

    def encode(self, x):
        """Images (N, 1, 28, 28) or (N, 784) -> codes (N, code_size)."""
        return self.encoder(x.reshape(x.shape[0], IMAGE_SIZE))

    def decode(self, code):
        """Codes (N, code_size) -> images (N, 1, 28, 28)."""
        return self.decoder(code).reshape(code.shape[0], 1, 28, 28)

    def forward(self, x):
        """Returns the reconstructions (N, 1, 28, 28) and the codes (N, code_size): a penalty needs both."""
        code = self.encode(x)
        return self.decode(code), code
