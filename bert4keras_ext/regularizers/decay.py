"""Decoupled weight decay (AdamW, Loshchilov & Hutter) on chosen kernels only: the like-for-like AdamW baseline
next to WEISSI and L2 on the same kernels (article 7)."""
import tensorflow as tf


def selective_adamw(model, kernels, learning_rate, weight_decay):
    """A tf-keras ``AdamW`` that decays exactly ``kernels`` (e.g. :func:`select_kernels` of the model) and no other
    trainable variable of ``model``.

    Example::

        optimizer = selective_adamw(model, select_kernels(model), 1e-3, weight_decay=1e-2)
        model.compile(optimizer, loss)
    """
    optimizer = tf.keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    keep = {id(k) for k in kernels}
    unknown = [k.name for k in kernels if all(k is not v for v in model.trainable_variables)]
    if unknown:
        raise ValueError('kernels %s are not trainable variables of the model' % unknown[:3])
    optimizer.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if id(v) not in keep])
    return optimizer
