"""A recurrent autoencoder: an image read as a sequence of its 28 rows, squeezed into one code
vector and written back row by row (Srivastava et al. 2015; Geron's MNIST example).

    image (N, 28, 28): rows x_1 .. x_28, each 28 pixels             (N, 1, 28, 28) is taken too
    Encoder  LSTM(28 -> 100) over the rows                            (N, 28, 100)
             Linear(100 -> 30) of its h after the last row: the code  (N, 30)
    Decoder  h_0 = tanh(Linear(30 -> 100)(code)), c_0 = 0             (1, N, 100)
             the code repeated, one copy per row                      (N, 28, 30)
             LSTM(30 -> 100) from h_0 over the copies                 (N, 28, 100)
             Linear(100 -> 28) at every row, sigmoid                  (N, 28, 28)  pixels in [0, 1]

cell="gru" puts GRUs where the LSTMs are. The encoder has read every row when it gives its
code, so the code has to summarise the whole image. The decoder starts from a state made from
the code (Srivastava et al. copy the encoder's state) and is given the code again at every step
(Geron's RepeatVector): with both it leaves the plateau where it draws the mean digit for every
image about twice as fast as with the repeated code alone (measured here).
"""
import tinygen
from tinygen import nn
import tinygen.nn.functional as F
from tinygen.functional.checks import IMAGES, check_int, check_shape

ROWS, PIXELS = 28, 28
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class Encoder(nn.Module):
    """Images (N, 28, 28) or (N, 1, 28, 28) -> codes (N, code_size)."""

    def __init__(self, code_size=30, hidden_size=100, cell="lstm"):
        super().__init__()
        check_int("Encoder", "code_size", code_size, minimum=1)
        self.read = CELLS[cell](PIXELS, hidden_size, batch_first=True)
        self.to_code = nn.Linear(hidden_size, code_size)

    def forward(self, images):
        check_shape("Encoder", "images", images, *IMAGES)
        rows = images.reshape(images.shape[0], ROWS, PIXELS)
        states, _ = self.read(rows)
        return self.to_code(states[:, -1])  # from h after the last row


class Decoder(nn.Module):
    """Codes (N, code_size) -> images (N, 28, 28) in [0, 1]."""

    def __init__(self, code_size=30, hidden_size=100, cell="lstm"):
        super().__init__()
        self.code_size, self.cell = check_int("Decoder", "code_size", code_size, minimum=1), cell
        self.start = nn.Linear(code_size, hidden_size)
        self.write = CELLS[cell](code_size, hidden_size, batch_first=True)
        self.to_pixels = nn.Linear(hidden_size, PIXELS)
        self.sigmoid = nn.Sigmoid()

    def forward(self, code):
        check_shape("Decoder", "codes", code, (None, self.code_size))
        h_0 = F.tanh(self.start(code)).unsqueeze(0)  # (num_layers = 1, N, hidden_size)
        state = (h_0, tinygen.zeros_like(h_0)) if self.cell == "lstm" else h_0
        repeated = F.broadcast_to(code.unsqueeze(1), (code.shape[0], ROWS, self.code_size))  # the code at every row
        states, _ = self.write(repeated, state)
        return self.sigmoid(self.to_pixels(states))  # Linear acts on each row's state


class RecurrentAutoencoder(nn.Module):
    """images -> decoder(encoder(images)): reconstructions (N, 28, 28)."""

    def __init__(self, code_size=30, hidden_size=100, cell="lstm"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"RecurrentAutoencoder: cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.code_size = check_int("RecurrentAutoencoder", "code_size", code_size, minimum=1)
        self.encoder = Encoder(code_size, hidden_size, cell)
        self.decoder = Decoder(code_size, hidden_size, cell)

    def forward(self, images):
        check_shape("RecurrentAutoencoder", "images", images, *IMAGES)
        return self.decoder(self.encoder(images))
