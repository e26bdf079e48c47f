"""The MLP VAE's (and the conditional VAE's) step worked by hand in NumPy, from Kingma & Welling's
formulas, for tests/test_vae_step.py and tests/test_cvae_step.py. Nothing here calls tinygen.

For a batch of n images x (n, 784) with noise eps (n, L), and extra columns c joined to the
encoder's input and to the code (the one-hot label of a conditional VAE; none for the VAE):

    h  = relu([x, c] W1^T + b1)                      mu = h Wm^T + bm,   logvar = h Wl^T + bl
    z  = mu + exp(logvar / 2) eps                    (the reparameterisation: sigma, not the variance)
    g  = relu([z, c] D1^T + d1)                      p  = sigmoid(g D2^T + d2)   (pixel probabilities)
    BCE = -sum_i,k [x log p + (1 - x) log(1 - p)]    (summed over pixels and images; the target is x alone)
    KL  = -1/2 sum_i,j (1 + logvar - mu^2 - exp(logvar))
    loss = BCE + beta KL

and its gradients, back through each line:
    dL/d(pre-sigmoid) = p - x;   dL/dmu = dL/dz + beta mu;
    dL/dlogvar = dL/dz eps exp(logvar / 2) / 2 + beta (exp(logvar) - 1) / 2.
"""
import numpy as np
from by_hand import sigmoid


def relu(a):
    return np.maximum(a, 0)


def weights_of(model):
    """The MLP VAE's (or CVAE's) weights as float64 NumPy arrays, by the names used above."""
    return {"W1": model.encoder[0].weight.numpy().copy(), "b1": model.encoder[0].bias.numpy().copy(),
            "Wm": model.to_mu.weight.numpy().copy(), "bm": model.to_mu.bias.numpy().copy(),
            "Wl": model.to_logvar.weight.numpy().copy(), "bl": model.to_logvar.bias.numpy().copy(),
            "D1": model.decoder[0].weight.numpy().copy(), "d1": model.decoder[0].bias.numpy().copy(),
            "D2": model.decoder[2].weight.numpy().copy(), "d2": model.decoder[2].bias.numpy().copy()}


def step_by_hand(w, x, eps, beta=1.0, c=None, lr=None):
    """The loss terms (bce, kl: sums over the batch) and, with lr, the weights after one SGD step."""
    n = x.shape[0]
    x = x.reshape(n, 784)
    c = np.zeros((n, 0)) if c is None else c
    inputs = np.concatenate([x, c], axis=1)
    h_pre = inputs @ w["W1"].T + w["b1"]
    h = relu(h_pre)
    mu, logvar = h @ w["Wm"].T + w["bm"], h @ w["Wl"].T + w["bl"]
    sigma = np.exp(logvar / 2)
    z = mu + sigma * eps
    code = np.concatenate([z, c], axis=1)
    g_pre = code @ w["D1"].T + w["d1"]
    g = relu(g_pre)
    p = sigmoid(g @ w["D2"].T + w["d2"])
    bce = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p))
    kl = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))
    if lr is None:
        return bce, kl
    d_out = p - x                                      # d BCE / d(pre-sigmoid), summed loss
    grads = {"D2": d_out.T @ g, "d2": d_out.sum(0)}
    d_g = (d_out @ w["D2"]) * (g_pre > 0)
    grads.update(D1=d_g.T @ code, d1=d_g.sum(0))
    d_z = (d_g @ w["D1"])[:, : z.shape[1]]             # the code's columns, not the label's
    d_mu = d_z + beta * mu
    d_logvar = d_z * eps * sigma / 2 + beta * (np.exp(logvar) - 1) / 2
    grads.update(Wm=d_mu.T @ h, bm=d_mu.sum(0), Wl=d_logvar.T @ h, bl=d_logvar.sum(0))
    d_h = (d_mu @ w["Wm"] + d_logvar @ w["Wl"]) * (h_pre > 0)
    grads.update(W1=d_h.T @ inputs, b1=d_h.sum(0))
    return bce, kl, {name: w[name] - lr * grads[name] for name in w}
