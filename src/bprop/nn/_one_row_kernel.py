"""The compiled kernel of :mod:`bprop.nn._one_row` (importing this module imports numba: import it lazily).

The activations are the formulas of :mod:`bprop.nn.activations`, element by element, in the array's dtype.
"""

import math

import numba


def _jit(fn):
    try:
        return numba.njit(error_model="numpy", boundscheck=False, cache=True)(fn)
    except Exception:  # no writable cache location: compile in every process instead
        return numba.njit(error_model="numpy", boundscheck=False)(fn)


@_jit
def affine(x, W, b, z):  # pragma: no cover (compiled)
    """z ← b + x·W, eight rows of W per sweep over z: W is read once and z stays in L1."""
    K, N = W.shape
    for n in range(N):
        z[n] = b[n]
    k = 0
    while k + 8 <= K:
        x0, x1, x2, x3 = x[k], x[k + 1], x[k + 2], x[k + 3]
        x4, x5, x6, x7 = x[k + 4], x[k + 5], x[k + 6], x[k + 7]
        for n in range(N):
            first = x0 * W[k, n] + x1 * W[k + 1, n] + x2 * W[k + 2, n] + x3 * W[k + 3, n]
            z[n] += first + (x4 * W[k + 4, n] + x5 * W[k + 5, n] + x6 * W[k + 6, n] + x7 * W[k + 7, n])
        k += 8
    while k < K:
        xk = x[k]
        for n in range(N):
            z[n] += xk * W[k, n]
        k += 1


@_jit
def relu(z):  # pragma: no cover (compiled)
    for n in range(z.size):
        if z[n] < 0:  # NaN stays NaN, as with np.maximum
            z[n] = 0


@_jit
def leaky_relu(z, slope):  # pragma: no cover (compiled)
    for n in range(z.size):
        leak = z[n] * slope
        if leak > z[n] or leak != leak:  # NaN wins, as in np.maximum (inf·0 with slope 0)
            z[n] = leak


@_jit
def sigmoid(z):  # pragma: no cover (compiled)
    for n in range(z.size):
        e = math.exp(-abs(z[n]))  # e^{-|z|}: no exponent overflows
        z[n] = (1 if z[n] >= 0 else e) / (e + 1)


@_jit
def tanh(z):  # pragma: no cover (compiled)
    for n in range(z.size):
        z[n] = math.tanh(z[n])


@_jit
def softmax(z):  # pragma: no cover (compiled)
    top = z[0]
    for n in range(z.size):
        if z[n] > top:
            top = z[n]
    total = z[0] * 0
    for n in range(z.size):
        z[n] = math.exp(z[n] - top)
        total += z[n]
    for n in range(z.size):
        z[n] /= total


@_jit
def forward_row(x, weights, biases, outputs, codes, slopes):  # pragma: no cover (compiled)
    """The network's outputs for the one row of ``x`` ``(1, n_inputs)`` into ``outputs[-1]``; False
    (nothing computed) when the row holds NaN or inf, which ``x·0`` turns into NaN."""
    a = x[0]
    check = a[0] * 0
    for k in range(a.size):
        check += a[k] * 0
    if check != check:
        return False
    for i in range(len(weights)):
        z = outputs[i]
        affine(a, weights[i], biases[i], z)
        code = codes[i]  # the codes of _one_row.CODES (0: identity)
        if code == 1:
            relu(z)
        elif code == 2:
            leaky_relu(z, slopes[i])
        elif code == 3:
            sigmoid(z)
        elif code == 4:
            tanh(z)
        elif code == 5:
            softmax(z)
        a = z
    return True
