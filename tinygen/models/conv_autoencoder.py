"""The convolutional autoencoder: convolutions and pooling down, back up to 28x28 by transposed
convolutions or by upsampling followed by convolutions.

    encoder   x (N, 1, 28, 28)
              Conv2d(1, 16, 3, padding=1), ReLU   -> (N, 16, 28, 28)
              MaxPool2d(2)                        -> (N, 16, 14, 14)
              Conv2d(16, 32, 3, padding=1), ReLU  -> (N, 32, 14, 14)
              MaxPool2d(2)                        -> (N, 32, 7, 7)
              Flatten, Linear(1568, k)            -> code (N, k)
    decoder   Linear(k, 1568), ReLU, Unflatten    -> (N, 32, 7, 7)
      'transposed' (each doubles the size: (H - 1) 2 - 2 + 3 + 1 = 2H)
              ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), ReLU  -> (N, 16, 14, 14)
              ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)         -> (N, 1, 28, 28)
      'upsample' (each pixel repeated 2x2, then a convolution that keeps the size)
              Upsample(scale_factor=2), Conv2d(32, 16, 3, padding=1), ReLU             -> (N, 16, 14, 14)
              Upsample(scale_factor=2), Conv2d(16, 1, 3, padding=1)                    -> (N, 1, 28, 28)
              Sigmoid                                                                  -> pixels in [0, 1]

Geron's convolutional autoencoder (Conv16-pool-Conv32-pool-Conv64-pool, transposed convolutions
up) keeps a 3x3x64 map, 576 numbers; here a Linear layer squeezes the 7x7x32 map into a code of
k numbers, so that the code can be compared with PCA's k components and with the MLP
autoencoder's code. 28 halves twice to 7 exactly, so no odd sizes arise (a third pooling would
give 3, and the way back would need output_padding to reach 28 again). A transposed
convolution's stride-2 pattern can leave a checkerboard in the output (Odena et al. 2016);
upsampling then convolving cannot, at the same parameter count.
"""
from tinygen import nn
from tinygen.functional.checks import check_int, check_shape

DECODERS = ("transposed", "upsample")


class ConvEncoder(nn.Module):
    """(N, 1, 28, 28) -> code (N, code_size)."""

    def __init__(self, code_size=32):
        super().__init__()
        check_int("ConvEncoder", "code_size", code_size, minimum=1)
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 28 -> 14
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 14 -> 7
            nn.Flatten(), nn.Linear(32 * 7 * 7, code_size),
        )

    def forward(self, x):
        check_shape("ConvEncoder", "images", x, (None, 1, 28, 28))
        return self.net(x)


class ConvDecoder(nn.Module):
    """code (N, code_size) -> images (N, 1, 28, 28) in [0, 1]."""

    def __init__(self, code_size=32, decoder="transposed"):
        super().__init__()
        self.code_size = check_int("ConvDecoder", "code_size", code_size, minimum=1)
        if decoder not in DECODERS:
            raise ValueError(f"ConvDecoder: decoder must be one of {DECODERS}, got {decoder!r}")
        if decoder == "transposed":
            up = [nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 7 -> 14
                  nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)]             # 14 -> 28
        else:
            up = [nn.Upsample(scale_factor=2), nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(),          # 7 -> 14
                  nn.Upsample(scale_factor=2), nn.Conv2d(16, 1, 3, padding=1)]                     # 14 -> 28
        self.net = nn.Sequential(
            nn.Linear(code_size, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
            *up, nn.Sigmoid(),
        )

    def forward(self, code):
        check_shape("ConvDecoder", "codes", code, (None, self.code_size))
        return self.net(code)


class ConvAutoencoder(nn.Module):
    """x -> decoder(encoder(x)): reconstructions of the images' shape (N, 1, 28, 28)."""

    def __init__(self, code_size=32, decoder="transposed"):
        super().__init__()
        self.code_size = check_int("ConvAutoencoder", "code_size", code_size, minimum=1)
        self.encoder = ConvEncoder(code_size)
        self.decoder = ConvDecoder(code_size, decoder)

    def forward(self, x):
        check_shape("ConvAutoencoder", "images", x, (None, 1, 28, 28))
        return self.decoder(self.encoder(x))
