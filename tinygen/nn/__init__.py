"""Layers and the Module system (PyTorch's names, so the code reads like torch.nn)."""
from tinygen.nn import functional, init
from tinygen.nn.activation import Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from tinygen.nn.conv import Conv2d, ConvTranspose2d
from tinygen.nn.embedding import Embedding
from tinygen.nn.equalized import EqualizedConv2d, EqualizedLinear
from tinygen.nn.linear import Identity, Linear
from tinygen.nn.minibatch import MinibatchDiscrimination, MinibatchStdDev
from tinygen.nn.module import Buffer, Module, ModuleList, Parameter, Sequential
from tinygen.nn.normalization import BatchNorm1d, BatchNorm2d
from tinygen.nn.pooling import AvgPool2d, MaxPool2d, Upsample
from tinygen.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from tinygen.nn.shape import Flatten, Unflatten
from tinygen.nn.style import AdaIN, InstanceNorm2d, NoiseInjection, PixelNorm
