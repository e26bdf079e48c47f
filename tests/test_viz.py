"""The picture helpers put each image where it belongs and write real PNG files."""
import numpy as np

from tinygen import viz


def test_image_grid_places_each_image_in_its_tile():
    images = np.random.default_rng(0).random((23, 28, 28))
    grid = viz.image_grid(images, nrow=10, padding=2)
    assert grid.shape == (3 * 30 + 2, 10 * 30 + 2)
    for k in (0, 9, 10, 22):
        r, c = divmod(k, 10)
        np.testing.assert_allclose(grid[2 + 30 * r : 30 + 30 * r, 2 + 30 * c : 30 + 30 * c], images[k], rtol=1e-6)
    assert grid[0].min() == 1 and grid[:, 0].min() == 1  # the white border


def test_flat_and_channel_images_give_the_same_grid():
    images = np.random.default_rng(1).random((4, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(viz.image_grid(images.reshape(4, 784)), viz.image_grid(images[:, None]))


def test_pictures_are_png_files(tmp_path):
    viz.save_image_grid(np.zeros((12, 28, 28)), tmp_path / "grid.png", title="zeros")
    history = {k: list(np.linspace(0, 1, 100)) for k in ("d_loss", "g_loss", "d_real", "d_fake")}
    viz.plot_gan_curves(history, tmp_path / "gan.png")
    viz.plot_curves({"loss": list(range(50))}, tmp_path / "curves.png")
    viz.save_latent_manifold(lambda z: np.tile(z[:, :1], (1, 784)) * 0 + 0.5, tmp_path / "manifold.png", n=5)
    viz.plot_class_histograms([("one run", [1, 2], [[100] * 10, [1000] + [0] * 9])], tmp_path / "classes.png")
    for name in ("grid.png", "gan.png", "curves.png", "manifold.png", "classes.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.part"))  # written atomically: no temporary left


def test_latent_grid_covers_the_gaussian_symmetrically():
    points = viz.latent_grid_points(n=5)
    assert points.shape == (25, 2)
    np.testing.assert_allclose(points[:, 0].reshape(5, 5).mean(), 0, atol=1e-6)
    assert points[:, 0].max() > 1.9 and points[:, 0].min() < -1.9


def png_width(path):
    return int.from_bytes(path.read_bytes()[16:20], "big")  # the IHDR chunk: width, then height


def test_a_variants_own_numbers_get_a_third_panel_in_the_gan_curves(tmp_path):
    history = {k: list(np.linspace(0, 1, 100)) for k in ("d_loss", "g_loss", "d_real", "d_fake")}
    viz.plot_gan_curves(history, tmp_path / "two.png")
    viz.plot_gan_curves({**history, "information": list(np.linspace(0, 2.3, 100))}, tmp_path / "three.png")
    assert png_width(tmp_path / "two.png") == 1000 and png_width(tmp_path / "three.png") == 1500
