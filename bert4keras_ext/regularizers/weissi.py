"""The WEISSI regularizer (article 7, kexue.fm/archives/7681; Liu, Cui & Chan, "Improve Generalization and
Robustness of Neural Networks via Weight Scale Shifting Invariant Regularizations", arXiv 2008.02965).

A network whose activations are positively homogeneous (ReLU, linear, max-pooling; GELU/Swish approximately) computes
the same function after ``W_l -> gamma_l W_l`` (biases by the cumulative product) whenever ``prod_l gamma_l = 1``.
L2 (``sum ||W_l||^2``) is not invariant to that shift; the article's

    R = lam1 * sum_l log ||W_l||  +  lam2 * sum_l || W_l / ||W_l|| ||_1

is (``||.||`` is the Frobenius norm of the whole kernel). We use ``log ||W|| = 0.5 log(||W||^2 + eps)``, so the value
and gradient stay finite at ``W = 0``.

* :class:`WEISSI` — a Keras ``Regularizer`` for one kernel (``kernel_regularizer=WEISSI(1e-3, 1e-4)``).
* :func:`attach_weissi` — adds the penalty to chosen layers of any built model (default: kernels followed by a
  positively homogeneous activation, including bert4keras ``FeedForward`` inner kernels; never biases, LayerNorm
  or embeddings).
"""
import tensorflow as tf

PACKAGE = 'bert4keras_ext'
HOMOGENEOUS = ('relu', 'linear', None, 'gelu', 'gelu_erf', 'gelu_tanh', 'swish', 'leaky_relu', 'softplus')


def weissi_value(w, log_weight=1.0, l1_weight=0.0, eps=1e-12):
    sq = tf.reduce_sum(tf.square(w)) + eps
    value = log_weight * 0.5 * tf.math.log(sq)
    if l1_weight:
        value += l1_weight * tf.reduce_sum(tf.abs(w)) * tf.math.rsqrt(sq)
    return value


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class WEISSI(tf.keras.regularizers.Regularizer):
    """``log_weight * log ||W|| + l1_weight * ||W / ||W|| ||_1`` (lambda1, lambda2 of the article)."""

    def __init__(self, log_weight=1e-3, l1_weight=0.0, eps=1e-12):
        self.log_weight, self.l1_weight, self.eps = float(log_weight), float(l1_weight), float(eps)

    def __call__(self, w):
        return weissi_value(w, self.log_weight, self.l1_weight, self.eps)

    def get_config(self):
        return {'log_weight': self.log_weight, 'l1_weight': self.l1_weight, 'eps': self.eps}


def _activation_name(act):
    if act is None:
        return None
    name = getattr(act, '__name__', None) or str(act)
    return name


def homogeneous_kernels(model, activations=HOMOGENEOUS):
    """``[(layer, kernel)]`` of Dense/Conv layers whose own activation is in ``activations`` (the output layer's
    kernel counts: linear), and of bert4keras ``FeedForward`` inner kernels (GELU by default)."""
    found = []
    for layer in _all_layers(model):
        cls = type(layer).__name__
        if cls == 'FeedForward':  # bert4keras: inner dense(s) with the activation, then the output dense
            act = layer.activation
            acts = act if isinstance(act, (list, tuple)) else [act]
            if all(_activation_name(a) in activations for a in acts):
                found += [(layer, getattr(layer, 'i%d_dense' % i).kernel) for i in range(len(acts))]
            continue
        if isinstance(layer, (tf.keras.layers.Dense, tf.keras.layers.Conv1D, tf.keras.layers.Conv2D)):
            if _activation_name(layer.activation) in activations:
                found.append((layer, layer.kernel))
    return found


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def select_kernels(model, layers=None):
    """Kernels of the given layers (names or objects), or by default :func:`homogeneous_kernels`."""
    if layers is None:
        kernels = [k for _, k in homogeneous_kernels(model)]
    else:
        kernels = []
        for item in layers:
            layer = model.get_layer(item) if isinstance(item, str) else item
            if not hasattr(layer, 'kernel'):
                raise ValueError('layer %s has no kernel to regularize' % layer.name)
            kernels.append(layer.kernel)
    if not kernels:
        raise ValueError('no kernel selected: the model has no Dense/Conv layer with a positively homogeneous '
                         'activation; pass layers=[...] explicitly')
    return kernels


def attach_regularizer(model, regularizer, layers=None):
    """Add ``regularizer(kernel)`` of each selected kernel to ``model.losses``; returns the kernels.

    Any Keras regularizer works (``tf.keras.regularizers.L2(1e-4)`` for a like-for-like L2 baseline)."""
    kernels = select_kernels(model, layers)
    for k in kernels:
        model.add_loss(lambda k=k: regularizer(k))
    return kernels


def attach_weissi(model, log_weight=1e-3, l1_weight=0.0, layers=None, eps=1e-12):
    """Add the WEISSI penalty of the chosen kernels to ``model.losses`` (``model.add_loss``).

    layers: layer names or layer objects (their ``kernel``); default :func:`homogeneous_kernels`.
    Returns the list of penalised kernel variables.
    """
    return attach_regularizer(model, WEISSI(log_weight, l1_weight, eps), layers)
