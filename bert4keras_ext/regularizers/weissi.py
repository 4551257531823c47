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
import functools

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


def select_layers(model, layers=None):
    """``[(layer, kernel)]`` of the given layers (names or objects; Dense/Conv or bert4keras ``FeedForward``, whose
    inner kernels are taken), or by default :func:`homogeneous_kernels`.

    An inner ``Dense`` of a bert4keras ``FeedForward`` (``ffn.i0_dense``) stands for its owner: the penalty is then
    held by the ``FeedForward`` (whose config writes it), so that it survives ``.keras`` save/load. A ``FeedForward``
    with several inner kernels (GLU) regularizes them all: pass the ``FeedForward`` itself."""
    if layers is None:
        found = homogeneous_kernels(model)
    else:
        found = []
        for item in layers:
            layer = model.get_layer(item) if isinstance(item, str) else item
            layer = _feedforward_owner(model, layer) or layer
            if type(layer).__name__ == 'FeedForward':
                found += [(layer, getattr(layer, 'i%d_dense' % i).kernel) for i in range(len(layer.activation))]
            elif hasattr(layer, 'kernel'):
                found.append((layer, layer.kernel))
            else:
                raise ValueError('layer %s has no kernel to regularize' % layer.name)
    if not found:
        raise ValueError('no kernel selected: the model has no Dense/Conv layer with a positively homogeneous '
                         'activation; pass layers=[...] explicitly')
    return found


def _feedforward_owner(model, layer):
    """The bert4keras ``FeedForward`` of ``model`` whose inner ``Dense`` is ``layer`` (None if there is none)."""
    for owner in _all_layers(model):
        if type(owner).__name__ != 'FeedForward':
            continue
        inner = [getattr(owner, 'i%d_dense' % i, None) for i in range(len(owner.activation))]
        if any(d is layer for d in inner):
            if len(inner) > 1:
                raise ValueError('%s is one of several inner kernels of FeedForward %s, which regularizes them '
                                 'all: pass the FeedForward layer itself' % (layer.name, owner.name))
            return owner
    return None


def select_kernels(model, layers=None):
    """The kernels of :func:`select_layers`."""
    return [k for _, k in select_layers(model, layers)]


def attach_regularizer(model, regularizer, layers=None):
    """Regularize each selected kernel with ``regularizer``; returns the kernels.

    The penalty is owned by the layer (its ``kernel_regularizer``, which bert4keras ``FeedForward`` accepts through
    :mod:`bert4keras_ext.compat`), so it appears in ``model.losses`` now and survives ``model.save`` /
    ``load_model``. Any Keras regularizer works (``tf.keras.regularizers.L2(1e-4)`` for a like-for-like L2
    baseline). A layer that already has a kernel regularizer is an error (it would be penalised twice)."""
    found = select_layers(model, layers)
    owners = []
    for layer, kernel in found:
        if layer not in owners:
            if getattr(layer, 'kernel_regularizer', None) is not None:
                raise ValueError('layer %s already has a kernel_regularizer (%r); remove it first'
                                 % (layer.name, layer.kernel_regularizer))
            owners.append(layer)
    for layer in owners:
        layer.kernel_regularizer = regularizer
    for layer, kernel in found:
        holder = layer
        if type(layer).__name__ == 'FeedForward':  # the inner Dense that owns this kernel
            holder = next(getattr(layer, 'i%d_dense' % i) for i in range(len(layer.activation))
                          if getattr(layer, 'i%d_dense' % i).kernel is kernel)
            holder.kernel_regularizer = regularizer
        # functools.partial of a module-level function, as Keras' own add_weight(regularizer=...) does: a lambda
        # with the variable as a default argument cannot be traced by tf.saved_model.save (NotEncodableError)
        holder.add_loss(functools.partial(_penalty, regularizer, kernel))
    return [k for _, k in found]


def _penalty(regularizer, kernel):
    return regularizer(kernel)


def attach_weissi(model, log_weight=1e-3, l1_weight=0.0, layers=None, eps=1e-12):
    """Add the WEISSI penalty of the chosen kernels to ``model.losses`` (``model.add_loss``).

    layers: layer names or layer objects (their ``kernel``); default :func:`homogeneous_kernels`.
    Returns the list of penalised kernel variables. The penalty survives ``model.save`` / ``load_model``.
    """
    return attach_regularizer(model, WEISSI(log_weight, l1_weight, eps), layers)
