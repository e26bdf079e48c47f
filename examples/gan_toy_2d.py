"""Watch a GAN collapse on 2-D points, and try a remedy: a playground that runs in seconds.

    python examples/gan_toy_2d.py --data ring
    python examples/gan_toy_2d.py --data grid --trick minibatch-discrimination

The data are a mixture of Gaussians in the plane (tinygen/toy2d.py): 8 on a ring, or 25 on a
grid. G is an MLP from noise to a point, D an MLP from a point to a logit, and they play the
vanilla GAN's game with its two-phase step. By default D learns ten times slower than G
(--g-lr 1e-3, --d-lr 1e-4), and the plain game then shows the two classic failures: MODE
COLLAPSE, G's points all on one spot, and OSCILLATION, that spot hopping from place to place as D
learns to reject wherever G is and G runs to wherever D now likes. `strip.png` shows it happen:
G's samples at six moments of training over the data in grey. (With --d-lr 1e-3 the game is
balanced and G spreads over most of the modes without help: try both.)

--trick picks a remedy (tinygen/models/experience_replay.py, tinygen/nn/minibatch.py):
    none                       the plain game
    replay                     D also sees older fakes from a buffer: a mode G left stays rejected
    minibatch-discrimination   D's last hidden features gain, per sample, how close it is to the
                               others of its batch (Salimans et al. 2016)
    minibatch-stddev           D's last hidden features gain the batch's standard deviation
                               (Karras et al. 2018)
The last two let D see that a batch of fakes is too alike, which a one-point-at-a-time D cannot.

Writes to --out: samples.npy (float32 (2500, 2), from the final G), strip.png and metrics.json
(modes covered: modes with at least 1% of the samples within 3 std of their centre; the
high-quality share: samples within 3 std of any centre; the spread: the samples' standard
deviation, the data's 1.41 (ring) or 2.83 (grid), far less when G has collapsed; all three also
at each snapshot).
examples/gan_toy_2d_sweep.py runs every trick over several seeds and tabulates these.
"""
import json

import tinygen
from tinygen import cli, nn, optim, toy2d, viz
import tinygen.nn.functional as F
from tinygen.models.experience_replay import ReplayBuffer

import common

TRICKS = ("none", "replay", "minibatch-discrimination", "minibatch-stddev")
LATENT_DIM, HIDDEN = 8, 128
BATCH_SIZE, G_LR, D_LR = 256, 1e-3, 1e-4  # the defaults, which the sweep uses too: D ten times slower than G
SNAPSHOTS = 6  # pictures in the strip, evenly spaced over training (the last at the end)
N_SAMPLES = 2500  # points drawn from G for samples.npy and each snapshot
REPLAY_SIZE = 1024  # fakes kept for D (four batches of 256)
MBD_KERNELS, MBD_DIMS = 8, 4  # minibatch discrimination: 8 kernels of 4 numbers (N^2 x 32 numbers a batch)


class ToyGenerator(nn.Module):
    """z (8) -> 128 -> 128 -> a point (2), ReLU."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT_DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, 2))

    def forward(self, z):
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """a point (2) -> 128 -> 128 (ReLU) -> [the batch layer of the trick, if any] -> a logit (1)."""

    def __init__(self, trick="none"):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
        if trick == "minibatch-discrimination":
            self.batch_layer = nn.MinibatchDiscrimination(HIDDEN, MBD_KERNELS, MBD_DIMS)  # 128 -> 136
        elif trick == "minibatch-stddev":
            self.batch_layer = nn.MinibatchStdDev(group_size=4)  # 128 -> 129
        else:
            self.batch_layer = nn.Identity()
        features = {"minibatch-discrimination": HIDDEN + MBD_KERNELS, "minibatch-stddev": HIDDEN + 1}.get(trick, HIDDEN)
        self.head = nn.Linear(features, 1)

    def forward(self, points):
        return self.head(self.batch_layer(self.body(points)))


def parse_args():
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ring", choices=toy2d.MIXTURES, help="8 Gaussians on a ring, or 25 on a grid")
    p.add_argument("--trick", default="none", choices=TRICKS, help="a remedy for mode collapse (default none)")
    p.add_argument("--steps", type=common.whole_number(1), default=3000, help="training steps (default 3000)")
    p.add_argument("--batch-size", type=common.whole_number(4), default=BATCH_SIZE, help=f"default {BATCH_SIZE}")
    p.add_argument("--g-lr", type=common.positive_number, default=G_LR, help=f"G's learning rate (default {G_LR:g})")
    p.add_argument("--d-lr", type=common.positive_number, default=D_LR, help=f"D's learning rate (default {D_LR:g})")
    p.add_argument("--seed", type=common.whole_number(0), default=0)
    p.add_argument("--out", default="runs/gan_toy_2d", help="folder for samples.npy, strip.png, metrics.json")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run in --out")
    args = p.parse_args()
    if args.trick == "minibatch-stddev" and args.batch_size % 4:
        raise cli.UsageError(f"--batch-size {args.batch_size}: minibatch-stddev takes groups of 4; use a multiple of 4")
    args.resume, args.device = None, "cpu"
    common.check_resume_and_out(args)
    return args


def toy_step(G, D, opt_G, opt_D, real, z, replay=None):
    """The vanilla GAN's two-phase step (examples/vanilla_gan_mnist.py `gan_step`) on D's logit:
    BCE with logits, which is the log loss on sigmoid(D(.)) computed stably. Returns the losses.

    1. D's phase: minimise -log sigma(D(x)) - log(1 - sigma(D(G(z)))) over D's parameters (fakes
       detached; with replay, some of them swapped for older ones).
    2. G's phase: minimise -log sigma(D(G(z))) through the D just updated, over G's parameters.
    """
    real_label, fake_label = tinygen.ones(len(real), 1), tinygen.zeros(len(z), 1)
    fake = G(z)

    # 1. Train D on real points (target 1) and fakes (target 0); with replay, some fakes are old ones.
    shown = replay(fake) if replay is not None else fake.detach()
    d_loss = (F.binary_cross_entropy_with_logits(D(real), real_label)
              + F.binary_cross_entropy_with_logits(D(shown), fake_label))
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()

    # 2. Train G through a frozen D (the non-saturating loss): make D call the new fakes real.
    D.requires_grad_(False)
    g_loss = F.binary_cross_entropy_with_logits(D(fake), real_label)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return {"d_loss": d_loss, "g_loss": g_loss}


def train(args, quiet=False):
    """Train G and D on the mixture for args.steps steps; returns (final samples (2500, 2), metrics, snapshots)."""
    tinygen.manual_seed(args.seed)
    G, D = ToyGenerator(), ToyDiscriminator(args.trick)
    opt_G = optim.Adam(G.parameters(), lr=args.g_lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.d_lr, betas=(0.5, 0.999))
    replay = ReplayBuffer(REPLAY_SIZE, (2,)) if args.trick == "replay" else None
    fixed_z = common.fixed_noise(N_SAMPLES, LATENT_DIM, args.seed + 1, "cpu")  # the same noise at every snapshot
    snapshot_steps = sorted({max(1, round(args.steps * (k + 1) / SNAPSHOTS)) for k in range(SNAPSHOTS)})  # fewer if steps < 6
    snapshots = []

    for step in range(1, args.steps + 1):
        real = toy2d.sample(args.data, args.batch_size)
        losses = toy_step(G, D, opt_G, opt_D, real, tinygen.randn(args.batch_size, LATENT_DIM), replay)
        common.check_finite({name: [value.item()] for name, value in losses.items()}, step, args)

        if step in snapshot_steps:
            with tinygen.no_grad():
                points = G(fixed_z).numpy()
            snapshots.append((step, points, toy2d.mode_metrics(points, args.data)))
            if not quiet:
                found = snapshots[-1][2]
                print(f"step {step}: {found['modes_covered']}/{found['modes']} modes, "
                      f"high-quality share {found['high_quality_share']:.2f}, spread {found['spread']:.2f}")
    return snapshots[-1][1], snapshots[-1][2], snapshots


def main():
    args = parse_args()
    samples, found, snapshots = train(args)
    folder = common.out_dir(args)
    common.save_array(samples.astype("float32"), folder / "samples.npy")
    data = toy2d.sample(args.data, N_SAMPLES).numpy()
    viz.plot_points_strip(data, [points for _, points, _ in snapshots], folder / "strip.png",
                          [f"step {step}: {m['modes_covered']}/{m['modes']} modes" for step, _, m in snapshots],
                          title=f"{args.data}, trick {args.trick}, seed {args.seed}")
    result = {**found, "data": args.data, "trick": args.trick, "seed": args.seed,
              "steps": args.steps, "batch_size": args.batch_size, "g_lr": args.g_lr, "d_lr": args.d_lr,
              "over_training": [{"step": step, "modes_covered": m["modes_covered"],
                                 "high_quality_share": m["high_quality_share"], "spread": m["spread"]}
                                for step, _, m in snapshots]}
    common.save_text(json.dumps(result, indent=1), folder / "metrics.json")
    print(f"wrote {folder / 'samples.npy'}, strip.png, metrics.json: {found['modes_covered']}/{found['modes']} "
          f"modes covered, high-quality share {found['high_quality_share']:.3f}, spread {found['spread']:.2f}")


if __name__ == "__main__":
    common.run(main)
