"""Optimisation seen as sampling (article 2, kexue.fm/archives/7521).

An update is the mean of the Boltzmann distribution ``p(d | theta) ∝ exp(-[l(theta + d) - l(theta)] / alpha)``;
with a proposal ``q`` it is estimated by self-normalised importance sampling (the article's eq. 14):

    d* ≈ sum_i w_i d_i,   w_i ∝ exp(-[l(theta + d_i) - l(theta)] / alpha) / q(d_i),   d_i ~ q.

Only loss *values* are needed, so ``l`` may be non-differentiable. Special cases (tested): with the first-order
expansion on a ball the estimate points along ``-grad`` (gradient descent); with the second-order expansion it is
``-H^{-1} grad`` (Newton).
"""
import numpy as np


def boltzmann_update(loss, theta, proposals, log_q, alpha):
    """Self-normalised importance-sampling estimate of ``E_p[d]``.

    loss: ``f(theta) -> float``; theta: ``[dim]``; proposals: ``[n, dim]`` samples of ``q``; log_q: their log
    proposal densities ``[n]`` (up to a constant); alpha: temperature. Returns ``(estimate [dim], weights [n])``.
    """
    theta = np.asarray(theta, dtype='float64')
    proposals = np.asarray(proposals, dtype='float64')
    base = loss(theta)
    deltas = np.array([loss(theta + d) - base for d in proposals])
    logits = -deltas / alpha - np.asarray(log_q, dtype='float64')
    logits -= logits.max()
    w = np.exp(logits)
    w /= w.sum()
    return w @ proposals, w


def uniform_ball(rng, n, dim, radius):
    """``n`` points uniformly distributed in the ``dim``-ball of ``radius`` (a constant proposal density)."""
    x = rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x * radius * rng.uniform(size=(n, 1)) ** (1.0 / dim)


def gaussian(rng, n, mean, sigma):
    """``(samples, log densities up to a constant)`` of ``N(mean, sigma^2 I)``."""
    mean = np.asarray(mean, dtype='float64')
    x = mean + sigma * rng.normal(size=(n, len(mean)))
    return x, -0.5 * np.sum((x - mean) ** 2, axis=1) / sigma ** 2
