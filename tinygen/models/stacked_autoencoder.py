"""The stacked autoencoder, trained greedily layer by layer (Bengio et al. 2007), weights tied or not.

    sizes = (784, 100, 30):
    encoders[0]: (N, 784) -> Linear -> ReLU -> (N, 100)     decoders[0]: (N, 100) -> Linear -> Sigmoid -> (N, 784)
    encoders[1]: (N, 100) -> Linear -> ReLU -> (N, 30)      decoders[1]: (N, 30) -> Linear -> ReLU -> (N, 100)
    the stack:   x -> encoders[0] -> encoders[1] -> code (N, 30) -> decoders[1] -> decoders[0] -> x_hat

Each pair (encoders[i], decoders[i]) is an autoencoder of its own: the first one of the images,
the second one of the first one's codes. Greedy training fits them one at a time, each on the
codes of the encoders below it, which stay as they are; then the whole stack is fine-tuned
end to end (see examples/stacked_autoencoder_mnist.py).

With tied=True each decoder's weight is its encoder's, transposed (`TiedLinear`): W is shared,
the decoder keeps its own bias, and the weight count halves (784-100-30: 82,414 parameters
instead of 163,814). The shared W's gradient is the sum of its two uses, which the autograd
graph gives for free: W is one tensor read by two ops.
"""
import math

from tinygen import nn
from tinygen.functional.checks import IMAGES, check_int, check_shape
from tinygen.creation import zeros

IMAGE_PIXELS = 28 * 28


class TiedLinear(nn.Module):
    """y = x W + b: the transpose of a Linear layer (x W^T + b') that shares its W, with a bias of its own.

    linear: the encoder's nn.Linear(n_in, n_out); this layer maps (N, n_out) -> (N, n_in).
    """

    def __init__(self, linear):
        super().__init__()
        self.weight = linear.weight  # the same Parameter, not a copy: one tensor, two uses
        self.bias = nn.Parameter(zeros(linear.in_features))
        bound = 1 / math.sqrt(linear.out_features)  # PyTorch's bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        nn.init.uniform_(self.bias, -bound, bound)
        self.in_features, self.out_features = linear.out_features, linear.in_features

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self}: expected input of shape (N, {self.in_features}), got {x.shape}")
        return x @ self.weight + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, tied to an encoder's weight"


class StackedAutoencoder(nn.Module):
    """Autoencoders stacked: images (N, 1, 28, 28) -> code (N, sizes[-1]) -> reconstructions (N, 1, 28, 28)."""

    def __init__(self, sizes=(784, 100, 30), tied=False):
        super().__init__()
        if sizes[0] != IMAGE_PIXELS or len(sizes) < 2:
            raise ValueError(f"StackedAutoencoder: sizes must start with {IMAGE_PIXELS} and name at least one code, got {sizes}")
        for size in sizes[1:]:
            check_int("StackedAutoencoder", "every size", size, minimum=1)
        self.sizes, self.tied = tuple(sizes), tied
        self.flatten = nn.Flatten()
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            encoder = nn.Linear(n_in, n_out)
            decoder = TiedLinear(encoder) if tied else nn.Linear(n_out, n_in)
            self.encoders.append(nn.Sequential(encoder, nn.ReLU()))
            self.decoders.append(nn.Sequential(decoder, nn.Sigmoid() if i == 0 else nn.ReLU()))  # images in [0, 1]
        self.unflatten = nn.Unflatten(1, (1, 28, 28))

    def encode(self, x, depth=None):
        """The code of images x (N, 1, 28, 28) after the first `depth` encoders (all of them by default)."""
        check_shape("StackedAutoencoder.encode", "images", x, *IMAGES)
        if depth is not None and not 0 <= check_int("StackedAutoencoder.encode", "depth", depth) <= len(self.encoders):
            raise ValueError(f"StackedAutoencoder.encode: depth must be in [0, {len(self.encoders)}] (the number of "
                             f"encoders), or None for all, got {depth}")
        h = self.flatten(x)
        for encoder in list(self.encoders)[:depth]:
            h = encoder(h)
        return h

    def decode(self, code):
        check_shape("StackedAutoencoder.decode", "codes", code, (None, self.sizes[-1]))
        h = code
        for decoder in reversed(list(self.decoders)):
            h = decoder(h)
        return self.unflatten(h)

    def forward(self, x):
        return self.decode(self.encode(x))

    def layer_forward(self, i, h):
        """The i-th autoencoder alone: its input h (the codes of encoders 0..i-1) -> its reconstruction of h."""
        return self.decoders[i](self.encoders[i](h))

    def layer_parameters(self, i):
        """The parameters of the i-th autoencoder (a tied weight once)."""
        pair = nn.ModuleList([self.encoders[i], self.decoders[i]])
        return pair.parameters()
