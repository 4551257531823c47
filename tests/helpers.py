"""Small helpers shared by the tests."""
import numpy as np


def token_batch(rng, batch=2, length=7, vocab=40, target=3):
    """Token ids (never 0 = padding) and segment ids with ``target`` trailing target positions."""
    ids = rng.randint(5, vocab, size=(batch, length))
    ids[:, 0] = 2
    seg = np.zeros_like(ids)
    if target:
        seg[:, -target:] = 1
    return ids, seg
