"""Train a convolutional autoencoder on MNIST digits: convolutions and pooling down, back up to 28x28.

    python examples/conv_autoencoder_mnist.py --data-dir ../shared/data/mnist [--decoder upsample]

The encoder slides 3x3 kernels over the image and halves it twice by 2x2 max pooling
(28 -> 14 -> 7), then a Linear layer squeezes the 7x7x32 map into a code of --code-size numbers.
The decoder grows it back, either by transposed convolutions of stride 2 (--decoder transposed,
the default) or by nearest-neighbour upsampling followed by convolutions (--decoder upsample);
see tinygen/models/conv_autoencoder.py. Training minimises the mean squared error
||D(E(x)) - x||^2 / 784, as the plain autoencoder does, so the two compare directly.

Writes to --out: reconstructions.png (held-out originals above, reconstructions below),
feature_maps.png (what the first convolution's 16 kernels see in one held-out digit), curves.png,
reconstructions.npy, checkpoint.npz and metrics.json (the held-out error and PCA's).
"""
import tinygen
from tinygen import nn, optim
import tinygen.nn.functional as F
from tinygen.models.conv_autoencoder import DECODERS, ConvAutoencoder

import autoencoders
import common


def conv_autoencoder_step(model, opt, x):
    """One step on a batch x (B, 1, 28, 28): loss = (1/(B*784)) sum (D(E(x)) - x)^2, the target x itself."""
    reconstruction = model(x)
    loss = F.mse_loss(reconstruction, x)  # mean over pixels and images: ||D(E(x)) - x||^2 / 784
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"loss": loss}


# Epochs of the 60,000 training digits by decoder, each run ending within 10 minutes on 2 cores:
# the upsampling decoder's convolutions at 14x14 and 28x28 cost twice the transposed ones' time.
EPOCHS = {"transposed": 12, "upsample": 6}


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=EPOCHS["transposed"], batch_size=128, lr=2e-3,
                                 out="runs/conv_autoencoder",
                                 epochs_help=f"{EPOCHS['transposed']}; {EPOCHS['upsample']} with --decoder upsample")
    parser.add_argument("--code-size", type=common.whole_number(1), default=32,
                        help="numbers in the code, at least 1 (default 32, as the plain autoencoder's)")
    parser.add_argument("--decoder", choices=DECODERS, default="transposed",
                        help="how the decoder grows 7x7 back to 28x28 (default transposed)")
    args = autoencoders.parse_args(parser)
    if "epochs" not in args.given:
        args.epochs = EPOCHS[args.decoder]
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    data = autoencoders.load_data(args)
    model = ConvAutoencoder(args.code_size, decoder=args.decoder).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    def train_step(x, epoch):
        return conv_autoencoder_step(model, opt, x)

    history = {"loss": []}
    folder = autoencoders.train(args, data.train, train_step, {"conv_autoencoder": model},
                                {"conv_autoencoder": opt}, history)
    parameters = sum(p.numel() for p in model.parameters())
    autoencoders.finish(args, folder, model, data, history, args.code_size,
                        f"conv autoencoder ({args.decoder}), code {args.code_size}",
                        extra_metrics={"decoder": args.decoder, "parameters": int(parameters)})

    model.eval()  # the first convolution's 16 feature maps (after its ReLU) of one held-out digit
    conv, relu = model.encoder.net[0], model.encoder.net[1]
    first_layer = nn.Sequential(conv, relu)
    maps = autoencoders.in_batches(first_layer, data.held_out[:1], args.device)  # (1, 16, 28, 28)
    maps = maps[0] / max(float(maps.max()), 1e-12)
    common.save_grid(maps, folder / "feature_maps.png", "what the first layer's 16 kernels see (ReLU outputs)")


if __name__ == "__main__":
    common.run(main)
