"""The model catalogue: one small file per model, the architecture readable top to bottom."""
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator
from tinygen.models.vae import VAE
from tinygen.models.vanilla_gan import Discriminator, Generator
