"""Train an auxiliary-classifier GAN (ACGAN, Odena et al. 2017) on MNIST digits: D also says which digit.

    python examples/acgan_mnist.py --data-dir ../shared/data/mnist

G takes noise z and a label c, as the conditional GAN's, but multiplies z by the label's
embedding instead of joining the two (ACGANGenerator: joined, G drew one image per digit for
every z, to satisfy the class term below). D is NOT told the label; it has two heads on one
body: the adversarial head (a logit: real or generated?) and the auxiliary head (10 class
logits: which digit?). Both players want the auxiliary head to read the right class, so it
learns from real digits and G learns to draw digits it can read:

    L_D = BCE(adv(x), 1) + BCE(adv(G(z, c)), 0) + CE(aux(x), y) + CE(aux(G(z, c)), c)
    L_G = BCE(adv(G(z, c)), 1) + CE(aux(G(z, c)), c)

BCE on the adversarial logit (binary_cross_entropy_with_logits), CE on the class LOGITS
(cross_entropy takes the log-softmax itself: a softmax before it, as in PyTorch-GAN's `acgan`,
would be applied twice and flatten the gradient). G's adversarial term is the non-saturating
one, as in the vanilla GAN.

`acgan_step` below is the step (tests/test_acgan_step.py pins it by hand); the loop around it is
examples/gans.py.

Training leaves out the last 1,000 test images (gans.load_data(args, hold_out=True)); at the
end the auxiliary head classifies them, and metrics.json reports its accuracy (aux_accuracy_held_out):
D became a digit classifier on the side.

Writes to --out: a sample grid per epoch (a row per digit), training curves, samples.npy
(100 of each digit), samples_by_class.npy/.png (row k asked for digit k), checkpoint.npz and
metrics.json (class accuracy per digit of G(z, k) by tinygen's classifier, the held-out
accuracy of D's auxiliary head, and the within-class distance of G's digits beside the real
ones': a G that draws one image per digit whatever z is scores 0 there).
"""
import numpy as np

import tinygen
from tinygen import optim
from tinygen.models.conditional_gan import ACGANDiscriminator, ACGANGenerator
import tinygen.nn.functional as F

import common
import gans


def acgan_step(G, D, opt_G, opt_D, real, labels, z, asked):
    """One ACGAN step on real images with their labels, noise z and the labels G is asked for; returns its numbers.

    D(x) gives (adv, aux): an adversarial logit and 10 class logits. BCE on the adversarial
    logit (binary_cross_entropy_with_logits), CE the cross-entropy of the class LOGITS
    (cross_entropy takes the log-softmax itself); batch means throughout (Odena et al. 2017,
    L_S and L_C):
    1. D's phase, over D's parameters only (the fakes are detached): minimise
           BCE(adv(x), 1) + BCE(adv(G(z, c)), 0) + CE(aux(x), y) + CE(aux(G(z, c)), c)
    2. G's phase, through the D just updated, over G's parameters only (D frozen): minimise
           BCE(adv(G(z, c)), 1) + CE(aux(G(z, c)), c)
    tests/test_acgan_step.py pins it on a network small enough to work by hand.
    """
    real_target = tinygen.ones(len(real), 1, device=real.device)
    fake_target = tinygen.zeros(len(z), 1, device=z.device)
    fake = G(z, asked)

    # 1. Train D: real towards 1 and fakes towards 0 (adversarial head), and the class of
    #    both (auxiliary head): the true labels of real images, the asked labels of fakes.
    (real_logit, real_classes), (fake_logit, fake_classes) = D(real), D(fake.detach())
    d_adversarial = (F.binary_cross_entropy_with_logits(real_logit, real_target)
                     + F.binary_cross_entropy_with_logits(fake_logit, fake_target))
    d_class = F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, asked)
    d_loss = d_adversarial + d_class
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()

    # 2. Train G through a frozen D: fakes called real AND read as the digit asked for.
    D.requires_grad_(False)
    logit, classes = D(fake)
    g_class = F.cross_entropy(classes, asked)
    g_loss = F.binary_cross_entropy_with_logits(logit, real_target) + g_class
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return {"d_loss": d_loss, "g_loss": g_loss, "d_class": d_class, "g_class": g_class,
            "d_real": real_logit.sigmoid().mean(), "d_fake": fake_logit.sigmoid().mean()}


def make_train_step(G, D, opt_G, opt_D, args):
    """The loop's step on one batch (real images, their labels): draws z and the labels G must draw."""

    def train_step(batch):
        real, labels = batch
        z = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        asked = tinygen.randint(0, 10, args.batch_size, device=args.device)  # the digits G must draw
        return acgan_step(G, D, opt_G, opt_D, real, labels, z, asked)

    return train_step


def auxiliary_accuracy(D, images, labels, args, batch_size=500):
    """How often D's auxiliary head reads real images (N, 1, 28, 28) in [-1, 1] as their labels (N,)."""
    D.eval()
    read_as = []
    with tinygen.no_grad():
        for start in range(0, len(images), batch_size):  # a few big batches, not a loop over images
            _, classes = D(tinygen.Tensor(images[start : start + batch_size], device=args.device))
            read_as.append(classes.numpy().argmax(axis=1))
    D.train()
    return float((np.concatenate(read_as) == np.asarray(labels)).mean())


def within_class_distance(groups):
    """The mean distance between two different images of one digit, averaged over the digits:
    groups is a list of arrays (n_k, 28, 28) in [0, 1], the images of digit k (n_k >= 2).

    The distance is the Euclidean norm of the difference over the 784 pixels. Two real images of
    one digit are about 9 apart; a G collapsed within each class (the same image for every z) scores
    0 however sharp its images are, which the classifier's class accuracy cannot see.
    """
    means = []
    for images in groups:  # ten digits: the pairs of each are one matrix product
        flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        squares = (flat * flat).sum(axis=1)
        distances = np.sqrt(np.clip(squares[:, None] + squares[None, :] - 2 * flat @ flat.T, 0, None))
        means.append(distances.sum() / (len(flat) * (len(flat) - 1)))  # the zero diagonal left out
    return float(np.mean(means))


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=20, batch_size=64, lr=2e-4, out="runs/acgan")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G, D = ACGANGenerator(latent_dim=100).to(args.device), ACGANDiscriminator().to(args.device)
    data = gans.load_data(args, hold_out=True)  # the last 1,000 test images: to test the auxiliary head
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    print(G, D, sep="\n")
    train_step = make_train_step(G, D, opt_G, opt_D, args)

    history = {"d_loss": [], "g_loss": [], "d_class": [], "g_class": [], "d_real": [], "d_fake": []}
    fixed = (gans.sample_noise(100, G.latent_dim, args, offset=0), gans.digits(10, args.device))  # row k: digit k
    folder = gans.train(args, (data.images, data.labels), train_step, {"G": G, "D": D}, {"G": opt_G, "D": opt_D},
                        history, end_of_epoch=gans.epoch_grid(G, fixed, "ACGAN"))
    held_out = auxiliary_accuracy(D, data.held_out, data.held_out_labels, args)
    print(f"D's auxiliary head on the {len(data.held_out)} held-out real digits: accuracy {held_out:.3f}")
    by_class = gans.by_class(G, G.latent_dim, args)  # (10, 100, 28, 28): row k asked for digit k
    real = common.to_unit(data.held_out).reshape(-1, 28, 28)
    variety = {"within_class_distance": within_class_distance(by_class),
               "within_class_distance_real": within_class_distance([real[data.held_out_labels == k] for k in range(10)])}
    print(f"mean distance between two images of one digit: G {variety['within_class_distance']:.2f}, "
          f"held-out real digits {variety['within_class_distance_real']:.2f}")
    gans.finish(args, folder, history, by_class.reshape(1000, 28, 28), "ACGAN", samples_by_class=by_class,
                extra_metrics={"aux_accuracy_held_out": held_out, **variety})


if __name__ == "__main__":
    common.run(main)
