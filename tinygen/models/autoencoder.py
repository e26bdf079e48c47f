"""The plain autoencoder: an encoder squeezes an image into a code, a decoder rebuilds the image.

    x (N, 1, 28, 28) -> flatten (N, 784) -> Linear -> ReLU -> [Linear -> ReLU ...] -> code (N, k)
    code (N, k) -> Linear -> ReLU -> [...] -> Linear -> Sigmoid -> (N, 784) -> (N, 1, 28, 28)

`hidden` lists the widths between the image and the code (none: the one-layer 784-k-784 of the
Keras blog; (256,): 784-256-k-256-784). Trained to reproduce its input, the network can only
pass through what the code keeps:
- k < 784, undercomplete: the code must keep what matters most; with ReLUs and a sigmoid output
  it does better than PCA's k components (Hinton & Salakhutdinov 2006);
- linear=True (no activations at all): x -> D E x is a linear map of rank k, and its best is
  PCA's: D's columns span the top-k principal subspace (Baldi & Hornik 1989);
- k >= 784, overcomplete and unregularised: nothing stops it from learning to copy (the sparse
  and denoising autoencoders add what does).
"""
from tinygen import nn
from tinygen.functional.checks import IMAGES, check_int, check_shape

IMAGE_PIXELS = 28 * 28


class Encoder(nn.Module):
    """(N, 1, 28, 28) -> code (N, code_size)."""

    def __init__(self, code_size=32, hidden=(), linear=False):
        super().__init__()
        check_int("Encoder", "code_size", code_size, minimum=1)
        widths = [IMAGE_PIXELS, *hidden, code_size]
        layers = [nn.Flatten()]
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            layers.append(nn.Linear(n_in, n_out))
            if not linear:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        check_shape("Encoder", "images", x, *IMAGES)
        return self.net(x)


class Decoder(nn.Module):
    """code (N, code_size) -> images (N, 1, 28, 28), in [0, 1] through a sigmoid (unbounded if linear)."""

    def __init__(self, code_size=32, hidden=(), linear=False):
        super().__init__()
        self.code_size = check_int("Decoder", "code_size", code_size, minimum=1)
        widths = [code_size, *reversed(hidden), IMAGE_PIXELS]
        layers = []
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            layers.append(nn.Linear(n_in, n_out))
            if not linear:
                layers.append(nn.ReLU() if n_out != IMAGE_PIXELS else nn.Sigmoid())
        layers.append(nn.Unflatten(1, (1, 28, 28)))
        self.net = nn.Sequential(*layers)

    def forward(self, code):
        check_shape("Decoder", "codes", code, (None, self.code_size))
        return self.net(code)


class Autoencoder(nn.Module):
    """x -> decoder(encoder(x)): reconstructions of the images' shape (N, 1, 28, 28)."""

    def __init__(self, code_size=32, hidden=(), linear=False):
        super().__init__()
        self.code_size = check_int("Autoencoder", "code_size", code_size, minimum=1)
        self.encoder = Encoder(code_size, hidden, linear)
        self.decoder = Decoder(code_size, hidden, linear)

    def forward(self, x):
        check_shape("Autoencoder", "images", x, *IMAGES)
        return self.decoder(self.encoder(x))
