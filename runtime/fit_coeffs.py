#!/usr/bin/python3
"""Derives the polynomial coefficients hard-coded in cnnc_rt.c.

Not part of the build: run by hand (numpy needed) when a polynomial changes, and paste the
printed float literals into cnnc_rt.c. Fits are near-minimax in relative error, found with
Lawson's iteratively reweighted least squares on a dense grid, then rounded to float32; the
printed error is that of the rounded coefficients evaluated exactly (in double).
"""
import numpy as np


# Lawson's algorithm: reweighting the least-squares fit by the error converges to minimax.
def lawson(basis, target, scale, x, iters=3000):
    a = np.stack([b(x) for b in basis], axis=1) / scale(x)[:, None]
    t = target(x) / scale(x)
    w = np.full(len(x), 1.0 / len(x))
    for _ in range(iters):
        sw = np.sqrt(w)
        c = np.linalg.lstsq(a * sw[:, None], t * sw, rcond=None)[0]
        e = np.abs(a @ c - t)
        w = w * e
        w /= w.sum()
    return c


# Float literal that round-trips the float32 value exactly.
def flit(v):
    return "%.9ef" % float(np.float32(v))


def fit_exp():
    # exp(r) = 1 + r + r^2 * (c0 + c1 r + c2 r^2 + c3 r^3 + c4 r^4) on |r| <= ln2/2 (+ slack
    # for the Cody-Waite rounding of r).
    h = 0.5 * np.log(2.0) * 1.0001
    r = np.linspace(-h, h, 40001)
    basis = [lambda x, j=j: x ** (j + 2) for j in range(5)]
    c = lawson(basis, lambda x: np.expm1(x) - x, np.exp, r)
    c32 = np.float32(c).astype(np.float64)
    approx = 1 + r + sum(c32[j] * r ** (j + 2) for j in range(5))
    err = np.max(np.abs(approx / np.exp(r) - 1))
    print("exp: max rel error of rounded polynomial %.3e" % err)
    for j, v in enumerate(c):
        print("  e%d = %s" % (j, flit(v)))


def fit_tanh(xmax, deg):
    # tanh(x) = x + x^3 * (t0 + t1 s + ... ) with s = x^2 on 0 <= x <= xmax.
    x = np.linspace(1e-6, xmax * 1.0001, 40001)
    basis = [lambda v, j=j: v ** (2 * j + 3) for j in range(deg + 1)]
    c = lawson(basis, lambda v: np.tanh(v) - v, np.tanh, x)
    c32 = np.float32(c).astype(np.float64)
    approx = x + sum(c32[j] * x ** (2 * j + 3) for j in range(deg + 1))
    err = np.max(np.abs(approx / np.tanh(x) - 1))
    print("tanh on [0, %g], degree %d in x^2: max rel error %.3e" % (xmax, deg, err))
    for j, v in enumerate(c):
        print("  t%d = %s" % (j, flit(v)))


if __name__ == "__main__":
    fit_exp()
    for d in (3, 4, 5):
        fit_tanh(0.5493, d)
