"""Train a small StyleGAN (Karras, Laine & Aila 2019) on MNIST digits framed to 32x32.

    python examples/stylegan_mnist.py --data-dir ../shared/data/mnist

A StyleGAN's generator does not take z as its input. A mapping network turns z into a style
w = f(z) (z pixel-normalised, then MAPPING_LAYERS equalised linears with LeakyReLU, learning 100
times slower than the rest); the synthesis network starts from a learned constant 32 x 4 x 4,
the same for every image, and doubles it 4 -> 8 -> 16 -> 32. Each of its eight layers ends in

    AdaIN(x, w) = y_s(w) * (x - mean_HW(x)) / std_HW(x) + y_b(w)      per channel, y = A w + b

so the style sets every channel's scale and bias anew at every layer, and before it a noise map
times a learned per-channel weight adds detail that no style has to encode (hair, in faces;
here the grain of a stroke). Network details in tinygen/models/stylegan.py.

Style mixing (the paper's regulariser, p = 0.9): for most batches a second code z2 is drawn and
its style w2 takes over the AdaIN layers from a random crossover layer on, so that the network
cannot assume that neighbouring layers' styles are correlated. style_mixing.png shows the
result: coarse styles (layers 0-3: 4x4 and 8x8, the digit's shape) from the codes of the left
column, fine styles (16x16 and 32x32: thickness, texture) from the codes of the top row.

Truncation: w' = w_avg + psi (w - w_avg), w_avg the moving average of w over training;
truncation.png shows rows psi = 1, 0.7, 0.4, 0 for ten codes: at psi = 0 every code gives the
"mean digit".

The loss is the paper's non-saturating logistic loss with the R1 penalty on the real images
(Mescheder et al. 2018; tinygen/models/r1.py):

    D minimises  softplus(D(G(z))) + softplus(-D(x)) + (gamma / 2) E ||grad_x D(x)||^2
    G minimises  softplus(-D(G(z)))

gamma = R1_GAMMA = 1 (the paper's 10 is for 1024x1024 faces; StyleGAN2-ADA's rule, gamma about
0.0002 * resolution^2 / batch, gives well below 1 at 32x32: 1 keeps D smooth without slowing G).
R1 is "lazy" (StyleGAN2): applied every R1_EVERY = 4 steps with weight 4, the same average push
for a quarter of its double backward's cost. Adam, lr 2e-3, betas (0, 0.99) (StyleGAN2's), both
players. The samples come from G_ema, an exponential moving average of G's weights (half-life
EMA_HALF_LIFE_IMAGES = 10,000 images, as the paper), which is smoother than G itself.

The noise measured (metrics.json, on the trained G_ema, 100 fixed codes): the mean absolute pixel
change when only the noise maps are drawn anew ("noise_pixel_change") beside the same for a new
code w ("w_pixel_change"); the share of images whose digit (tinygen's classifier) changes
("noise_digit_change", "w_digit_change"); and the share of the change's energy at high spatial
frequencies, above a quarter cycle per pixel ("noise_high_frequency_share", "w_high_frequency_share"):
noise should change little, flip almost no digit, and what it changes should be fine detail.

1 epoch of the training split by default (1,875 steps of batch 32, about 0.47 s a step on two
quiet cores: 889 s measured), as many steps as the earlier default, 6 epochs of the test split
(1,872 steps). Measured in that earlier run (seed 0, 3 + 3 epochs through --resume): Frechet distance
78.6 after 3 epochs and 38.2 after 6, all ten digits; new noise moved the pixels by 0.0075 on
average against 0.18 for a new code w, changed the digit of 5 of 100 images against 96, and
42% of its change's energy lay above a quarter cycle per pixel against 12% for w's.

Writes to --out: a sample grid per epoch (G_ema), curves.png (losses, D's outputs, the R1 term),
style_mixing.png, truncation.png, samples.npy, checkpoint.npz (G, D, G_ema with w_avg) and
metrics.json (with "r1_late", the R1 term's mean over the last 10% of steps, and the noise
measurements).
"""
import copy

import numpy as np

import tinygen
from tinygen import metrics, optim, viz
from tinygen.models.ema import update_average_
from tinygen.models.r1 import r1_penalty
from tinygen.models.stylegan import StyleDiscriminator, StyleGenerator
import tinygen.nn.functional as F

import common
import gans
from wgan_mnist import late_mean

LATENT_DIM = 32
STYLE_DIM = 32
CHANNELS = 32
GROUP_SIZE = 4                      # D's minibatch standard deviation: over groups of 4 images
MIXING_PROBABILITY = 0.9
R1_GAMMA = 1.0
R1_EVERY = 4
EMA_HALF_LIFE_IMAGES = 10_000
COARSE_LAYERS = 4                   # style_mixing.png: layers 0-3 (4x4, 8x8) from one code, the rest from another
TRUNCATION_PSIS = (1.0, 0.7, 0.4, 0.0)
HIGH_FREQUENCY = 0.25               # cycles per pixel: above it, "fine detail" (the highest is 0.5)


def ema_decay(batch_size):
    """The EMA's decay per step for a half-life of EMA_HALF_LIFE_IMAGES images: 0.5^(B / 10,000)."""
    return 0.5 ** (batch_size / EMA_HALF_LIFE_IMAGES)


def mixing(G, n, device):
    """Style mixing's arguments for G, drawn from tinygen's generator: with probability
    MIXING_PROBABILITY a second code and a crossover layer in [1, num_ws - 1], otherwise none."""
    if tinygen.rand(1).item() >= MIXING_PROBABILITY:
        return {}
    crossover = int(tinygen.randint(1, G.num_ws, (1,)).item())
    return {"mix_z": tinygen.randn(n, G.latent_dim, device=device), "crossover": crossover}


def g_inputs(G, n, device):
    """G's arguments for a batch of n fakes, drawn from tinygen's generator: a code z, style mixing's
    (`mixing`) and one noise map per synthesis layer."""
    z = tinygen.randn(n, G.latent_dim, device=device)
    mix = mixing(G, n, device)
    noise = [tinygen.randn(*shape, device=device) for shape in G.synthesis.noise_shapes(n)]
    return {"z": z, **mix, "noise": noise}


def stylegan_step(G, D, G_ema, opt_G, opt_D, real, inputs_d, inputs_g, step, ema_decay):
    """One step of StyleGAN's game on real images x (B, 1, 32, 32); returns its numbers.

    inputs_d, inputs_g: G's arguments (z, mix_z and crossover or none, noise) for each phase's fakes.
    softplus(a) = log(1 + e^a): softplus(-D) is BCE with logits against target 1, softplus(D) against 0.

    1. D's phase, over D's parameters only (the fakes made without a graph):
         L_D = mean softplus(D(G(z))) + mean softplus(-D(x))
       and at every R1_EVERY-th step (step % R1_EVERY == 0, "lazy" R1) plus R1_EVERY times
         R1 = (R1_GAMMA / 2) mean_n ||grad_x D(x_n)||^2        (through create_graph: it trains D)
    2. G's phase, through the D just updated and frozen:  L_G = mean softplus(-D(G(z_g))).
    3. G_ema <- ema_decay G_ema + (1 - ema_decay) G (its w_avg copied).
    r1 is None at the steps without it.
    """
    n = real.shape[0]
    ones, zeros = tinygen.ones(n, 1, device=real.device), tinygen.zeros(n, 1, device=real.device)

    # 1. Train D: the logistic loss softplus(D(G(z))) + softplus(-D(x)), i.e. BCE with targets 1 and 0,
    #    on fakes made without a graph; every R1_EVERY steps plus R1_EVERY times the R1 penalty on the reals.
    with tinygen.no_grad():
        fake = G(**inputs_d)
    d_real, d_fake = D(real), D(fake)
    d_loss = F.binary_cross_entropy_with_logits(d_real, ones) + F.binary_cross_entropy_with_logits(d_fake, zeros)
    lazy = step % R1_EVERY == 0
    r1 = r1_penalty(D, real, R1_GAMMA) if lazy else None
    opt_D.zero_grad()
    (d_loss + R1_EVERY * r1 if lazy else d_loss).backward()  # with R1: through grad_x D too
    opt_D.step()

    # 2. Train G through a frozen D: the non-saturating loss softplus(-D(G(z))).
    D.requires_grad_(False)
    g_loss = F.binary_cross_entropy_with_logits(D(G(**inputs_g)), ones)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)

    # 3. The moving average of G's weights (and a copy of its w_avg), which draws the samples.
    update_average_(G_ema, G, ema_decay)
    return {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real.sigmoid().mean(),
            "d_fake": d_fake.sigmoid().mean(), "r1": r1}


def make_train_step(G, D, G_ema, opt_G, opt_D, args, history):
    """train_step(real) for `gans.train`: G's inputs for both phases, then `stylegan_step`. The step
    number is the length of the history so far (so a resumed run applies R1 at the same steps);
    between the steps with R1 the history holds its last value (for the curve)."""
    decay = ema_decay(args.batch_size)

    def train_step(real):
        n = real.shape[0]
        inputs_d, inputs_g = g_inputs(G, n, args.device), g_inputs(G, n, args.device)
        numbers = stylegan_step(G, D, G_ema, opt_G, opt_D, real, inputs_d, inputs_g, len(history["d_loss"]), decay)
        numbers["r1"] = numbers["r1"].item() if numbers["r1"] is not None else history["r1"][-1]
        return numbers

    return train_step


# ---------------------------------------------------------------------------------------------
# Drawing with fixed noise maps (drawing them from tinygen's generator would change training's)


def fixed_noise_maps(G, n, seed, device):
    """One N(0, 1) noise map per synthesis layer for a batch of n, from their own seeded generator."""
    rng = np.random.default_rng(seed + 20_000)
    return [tinygen.Tensor(rng.standard_normal(shape).astype(np.float32), device=device)
            for shape in G.synthesis.noise_shapes(n)]


def draw(G, z, args, psi=1.0, mix_z=None, crossover=None, noise_seed=0):
    """G(z, ...) with fixed noise maps as float32 (N, 28, 28) in [0, 1] (the 32x32 frame cropped off)."""
    noise = fixed_noise_maps(G, z.shape[0], args.seed + noise_seed, args.device)
    return gans.generate(G, z, psi, mix_z, crossover, noise)


def style_mixing_grid(G, args, n=6):
    """(n + 1) x (n + 1) images: row 0 the codes B, column 0 the codes A, and at (i, j) the coarse
    styles (layers 0 .. COARSE_LAYERS - 1) of A_i with the fine styles of B_j; the corner blank."""
    z_a, z_b = gans.sample_noise(n, G.latent_dim, args, offset=3), gans.sample_noise(n, G.latent_dim, args, offset=4)
    a, b = draw(G, z_a, args), draw(G, z_b, args)
    rows = [np.concatenate([np.zeros((1, 28, 28), np.float32), b])]
    for i in range(n):
        z_i = tinygen.Tensor(np.repeat(z_a.numpy()[i:i + 1], n, axis=0), device=args.device)
        rows.append(np.concatenate([a[i:i + 1], draw(G, z_i, args, mix_z=z_b, crossover=COARSE_LAYERS)]))
    return np.concatenate(rows)


def truncation_grid(G, args, n=10):
    """Rows psi in TRUNCATION_PSIS, the same n codes and noise maps in every row."""
    z = gans.sample_noise(n, G.latent_dim, args, offset=5)
    return np.concatenate([draw(G, z, args, psi=psi) for psi in TRUNCATION_PSIS])


# ---------------------------------------------------------------------------------------------
# What the noise changes


def high_frequency_share(differences, cutoff=HIGH_FREQUENCY):
    """The share of the energy of images (N, H, W) at spatial frequencies above `cutoff` cycles per
    pixel: sum over |f| > cutoff of |FFT|^2 over the sum over all f (Parseval: the total is the
    sum of squares). 0 for smooth, large-scale changes, near 1 for pixel-to-pixel ones; 0 if the
    images are all zero."""
    differences = np.asarray(differences, dtype=np.float64)
    if differences.ndim != 3:
        raise ValueError(f"high_frequency_share: expected images of shape (N, H, W), got {differences.shape}")
    power = np.abs(np.fft.fft2(differences)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(differences.shape[1]), np.fft.fftfreq(differences.shape[2]), indexing="ij")
    high = np.sqrt(fx ** 2 + fy ** 2) > cutoff
    total = power.sum()
    return float(power[..., high].sum() / total) if total > 0 else 0.0


def compare_changes(base, changed, base_digits, changed_digits):
    """How far images `changed` (N, H, W) in [0, 1] lie from `base`: the mean absolute pixel change,
    the share of images whose digit differs (digits: (N,) ints) and the change's high_frequency_share."""
    base, changed = np.asarray(base, dtype=np.float64), np.asarray(changed, dtype=np.float64)
    n = base.shape[:1]
    if base.shape != changed.shape or np.shape(base_digits) != n or np.shape(changed_digits) != n:
        raise ValueError(f"compare_changes: expected images of one shape (N, H, W) and N digits each, got "
                         f"{base.shape}, {changed.shape}, {np.shape(base_digits)}, {np.shape(changed_digits)}")
    return {"pixel_change": float(np.abs(changed - base).mean()),
            "digit_change": float(np.mean(np.asarray(base_digits) != np.asarray(changed_digits))),
            "high_frequency_share": high_frequency_share(changed - base)}


def noise_effect(G, args, classify, n=100):
    """For n fixed codes: the images with their noise maps drawn anew, and with new codes (the same
    noise), each compared with the originals (compare_changes). classify(images) -> digits (N,)."""
    z, other_z = gans.sample_noise(n, G.latent_dim, args, offset=6), gans.sample_noise(n, G.latent_dim, args, offset=7)
    base = draw(G, z, args, noise_seed=1)
    new_noise, new_w = draw(G, z, args, noise_seed=2), draw(G, other_z, args, noise_seed=1)
    digits = [classify(images) for images in (base, new_noise, new_w)]
    found = {}
    for what, images, image_digits in (("noise", new_noise, digits[1]), ("w", new_w, digits[2])):
        for key, value in compare_changes(base, images, digits[0], image_digits).items():
            found[f"{what}_{key}"] = round(value, 4)
    return found


def classifier_digits(data_dir):
    """classify(images (N, 28, 28) in [0, 1]) -> the digit tinygen's metrics classifier reads in each."""
    classifier = metrics.load_classifier(data_dir)[0]
    return lambda images: metrics.predict(classifier, images)[0].argmax(axis=1)


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=1, batch_size=32, lr=2e-3, out="runs/stylegan")
    args = common.parse_args(parser)
    gans.check_stddev_groups(args, GROUP_SIZE)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G = StyleGenerator(LATENT_DIM, STYLE_DIM, CHANNELS).to(args.device)  # G first, then D
    D = StyleDiscriminator(CHANNELS, GROUP_SIZE).to(args.device)
    G_ema = copy.deepcopy(G)
    data = gans.load_data(args)
    images = gans.pad_to_32(data.images)  # 4 -> 8 -> 16 -> 32: the digits in a 32x32 frame of background
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.0, 0.99))
    print(G, D, sep="\n")

    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "r1": []}
    train_step = make_train_step(G, D, G_ema, opt_G, opt_D, args, history)
    fixed_z = gans.sample_noise(100, G.latent_dim, args, offset=0)  # the same 100 digits in every epoch's grid
    grid_noise = fixed_noise_maps(G, 100, args.seed, args.device)
    folder = gans.train(args, images, train_step, {"G": G, "D": D, "G_ema": G_ema}, {"G": opt_G, "D": opt_D},
                        history, end_of_epoch=gans.epoch_grid(G_ema, (fixed_z, 1.0, None, None, grid_noise),
                                                              "StyleGAN (G_ema)"))
    viz.save_image_grid(style_mixing_grid(G_ema, args), folder / "style_mixing.png", nrow=7,
                        title=f"coarse styles (layers 0-{COARSE_LAYERS - 1}) from the left column, "
                              f"fine from the top row")
    viz.save_image_grid(truncation_grid(G_ema, args), folder / "truncation.png", nrow=10,
                        title="truncation: rows psi = " + ", ".join(f"{psi:g}" for psi in TRUNCATION_PSIS))
    found = {"r1_late": late_mean(history["r1"])} if history["r1"] else {}
    if not args.no_metrics:
        found.update(noise_effect(G_ema, args, classifier_digits(args.data_dir)))
        print("what the noise changes:", found)
    gans.finish(args, folder, history, draw(G_ema, gans.sample_noise(1000, G.latent_dim, args), args),
                "StyleGAN", extra_metrics=found)


if __name__ == "__main__":
    common.run(main)
