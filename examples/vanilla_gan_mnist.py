"""Train the classic fully connected GAN on MNIST digits.

    python examples/vanilla_gan_mnist.py --data-dir ../shared/data/mnist

Two networks play a game. The discriminator D learns to tell real digits from generated ones;
the generator G learns to turn noise into digits that D calls real. Each step has two phases:
  1. train D on a batch of real images (target 1) and a batch of G's images (target 0);
  2. train G through a frozen D: G's images with target 1 (the "non-saturating" loss
     -log D(G(z)), which gives G strong gradients even while D easily rejects its images).
At the equilibrium D cannot tell them apart: D(x) = D(G(z)) = 0.5.

Two remedies for mode collapse (tinygen/nn/minibatch.py, tinygen/models/experience_replay.py),
off by default so that this stays the classic GAN:
  --experience-replay          D also sees older fakes: each fake is swapped, with probability 1/2,
                               for one from a buffer of the last ten batches' worth
  --minibatch-discrimination   D's last hidden layer gains, per image, how close its features are
                               to the other images' of the batch (nn.MinibatchDiscrimination)

Writes to --out: a sample grid per epoch, training curves, samples.npy, checkpoint.npz, metrics.json,
class_histograms.png: the digits the metrics' classifier reads in 1000 of G's samples, epoch
by epoch (a digit G drops, or one it collapses to, shows there), and fd_by_step.png: the Frechet
distance and classifier score of those samples at each epoch's end, against the steps trained
(metrics.json lists them: frechet_distance_per_epoch, step_per_epoch, ...). `gan_step` below is
the step, `train_gan` the run; they also train the DCGAN (examples/dcgan_mnist.py): only the networks differ.
The loop around the step (batches, checkpoints, grids, metrics) is examples/gans.py.
"""
import tinygen
from tinygen import optim, viz
from tinygen.models.experience_replay import ReplayBuffer
from tinygen.models.vanilla_gan import Discriminator, Generator
import tinygen.nn.functional as F

import common
import gans


REPLAY_BATCHES = 10  # --experience-replay keeps this many batches' worth of fakes


def add_mode_collapse_options(parser):
    """The remedies' options (this file's and the DCGAN's); a --resume must repeat them."""
    parser.add_argument("--experience-replay", action="store_true",
                        help="D also sees older fakes from a buffer (off by default)")
    parser.add_argument("--minibatch-discrimination", action="store_true",
                        help="D sees how alike the images of a batch are (off by default)")


def parse_args(parser):
    args = common.parse_args(parser)
    args.resume_with_the_same = {"experience_replay": "the buffer is part of the run",
                                 "minibatch_discrimination": "D's layers depend on it"}
    return args


def gan_step(G, D, opt_G, opt_D, real, z, replay=None):
    """One step of the GAN game on a batch of real images and a batch of noise z; returns its numbers.

    1. D's phase: minimise  -log D(x) - log(1 - D(G(z)))   (binary cross-entropy, targets 1 and 0),
       over D's parameters only: the fakes are detached, so nothing reaches G.
    2. G's phase: minimise  -log D(G(z))   (the "non-saturating" loss: target 1 for the fakes),
       through the D just updated, over G's parameters only: D is frozen.
    Goodfellow et al.'s minimax loss would have G minimise log(1 - D(G(z))), whose gradient
    vanishes while D rejects G's images easily, as it does early on; -log D(G(z)) has the same
    fixed point and strong gradients there (tests/test_gan_step.py tells the two apart).
    """
    real_label = tinygen.ones(len(real), 1, device=real.device)
    fake_label = tinygen.zeros(len(z), 1, device=z.device)
    fake = G(z)

    # 1. Train D: push D(real) towards 1 and D(fake) towards 0. `detach` keeps this step
    #    from reaching into G: only D's parameters get gradients here. (With
    #    --experience-replay some of the fakes D sees are older ones, detached too.)
    shown = replay(fake) if replay is not None else fake.detach()
    d_real, d_fake = D(real), D(shown)
    d_loss = F.binary_cross_entropy(d_real, real_label) + F.binary_cross_entropy(d_fake, fake_label)
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()

    # 2. Train G through a frozen D: make the updated D call the fakes real.
    D.requires_grad_(False)
    g_loss = F.binary_cross_entropy(D(fake), real_label)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real.mean(), "d_fake": d_fake.mean()}


def train_gan(G, D, args, title, image_shape):
    """Train G and D by the two-phase GAN step on MNIST scaled to [-1, 1] (tanh's range).

    image_shape: the shape of one of G's images, (784,) or (1, 28, 28): the replay buffer's items.
    """
    data = gans.load_data(args)
    G.to(args.device), D.to(args.device)
    replay = ReplayBuffer(REPLAY_BATCHES * args.batch_size, image_shape).to(args.device) if args.experience_replay else None
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    print(G, D, sep="\n")

    def train_step(real):
        z = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        return gan_step(G, D, opt_G, opt_D, real, z, replay)

    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}  # d_real, d_fake: the batch's mean D(x), D(G(z))
    fixed_z = gans.sample_noise(100, G.latent_dim, args, offset=0)  # the same 100 digits in every epoch's grid
    draw_grid = gans.epoch_grid(G, (fixed_z,), title)
    per_epoch = gans.watched_history()  # the metrics of G(watched_z) at each epoch's end
    watched_z = gans.sample_noise(1000, G.latent_dim, args, offset=2)
    watch = gans.watch_samples(G, (watched_z,), args, per_epoch)

    def end_of_epoch(epoch, step, folder):
        draw_grid(epoch, step, folder)
        watch(epoch, step, folder)

    models = {"G": G, "D": D, **({"replay": replay} if replay is not None else {})}  # the buffer goes into checkpoints
    folder = gans.train(args, data.images, train_step, models, {"G": opt_G, "D": opt_D}, history,
                        end_of_epoch=end_of_epoch, epoch_history=per_epoch)
    if per_epoch["epoch"]:
        viz.plot_class_histograms([(f"{title}: the digits in 1000 samples, epoch by epoch", per_epoch["epoch"],
                                    per_epoch["class_histogram"])], folder / "class_histograms.png")
        viz.plot_by_step(per_epoch["step"], {"Frechet distance": per_epoch["frechet_distance"],
                                             "classifier score": per_epoch["classifier_score"]},
                         folder / "fd_by_step.png", title=f"{title}: 1000 samples at each epoch's end")
    per_epoch_metrics = {f"{key}_per_epoch": values for key, values in per_epoch.items() if key != "epoch"}
    gans.finish(args, folder, history, gans.generate(G, gans.sample_noise(1000, G.latent_dim, args)), title,
                extra_metrics=per_epoch_metrics if per_epoch["epoch"] else None)


def main():
    # 20 epochs of the 60,000 training digits (18,740 steps, 6 minutes here): measured, the Frechet
    # distance fell from 412 after the first epoch to 40 after 10 and 22 after 20 (fd_by_step.png).
    parser = common.parser(__doc__.splitlines()[1], epochs=20, batch_size=64, lr=2e-4, out="runs/vanilla_gan")
    add_mode_collapse_options(parser)
    args = parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G = Generator(latent_dim=100)  # G first, then D: their initial weights come in that order
    D = Discriminator(minibatch_discrimination=args.minibatch_discrimination)
    train_gan(G, D, args, title="vanilla GAN", image_shape=(784,))


if __name__ == "__main__":
    common.run(main)
