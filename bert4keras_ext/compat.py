"""Make bert4keras 0.11.5 run on TensorFlow 2.21 + tf-keras 2.21.

Importing this module (``import bert4keras_ext`` does it first) arranges, in order:

1. the environment: ``TF_KERAS=1`` and ``TF_USE_LEGACY_KERAS=1`` are set before TensorFlow is imported, so that
   ``tf.keras`` is tf-keras (Keras 2) and bert4keras builds on it;
2. guards: a clear ``ImportError`` when Keras 3 was already imported in this process, when tf-keras is missing,
   or when bert4keras is missing;
3. the documented fixes below, each applied once, each covered by a test in ``tests/test_compat.py``.

| fix | what is broken in bert4keras 0.11.5 on TF 2.21 | what we do |
|---|---|---|
| optimizers | ``Adam``/``Lion``/``AdaFactor`` subclass ``keras.optimizers.Optimizer``, which tf-keras >= 2.11 made the *new* optimizer (no ``_set_hyper``) | while ``bert4keras.optimizers`` is imported, ``keras.optimizers.Optimizer`` names the legacy ``OptimizerV2``; the name is restored right after, so nobody else sees the change |
| AdaFactor float lr | the ``learning_rate`` property tests ``hasattr(self, '__learning_rate')`` (never true, name mangling) and creates a variable inside ``tf.function`` | the property caches its variable under a plain attribute |
| RECOMPUTE=1 | ``tape.stop_recording`` / ``tape.record_operation`` moved to ``tensorflow.python.eager.record``; and a layer called on the same tensor several times (self-attention gets ``[x, x, x]``) gets that tensor's gradient once per copy, so gradients below the first recomputed layer are wrong | :func:`recompute_grad` replaces bert4keras' decorator before its layers are defined: it records one backward function on the *distinct* input tensors |
| Lambda closures | the LM/UniLM masks and the BERT pooler are ``Lambda`` layers wrapping Python closures, so ``load_model`` of a ``.keras`` file needs ``safe_mode=False`` | ``Transformer.apply`` builds named, registered layers (:mod:`bert4keras_ext.layers.masks`) instead |
| ``strQ2B`` | uses the Python 2 builtin ``unichr`` | ``bert4keras.snippets.unichr = chr`` |
| ``FeedForward`` regularizer | ``FeedForward`` takes no ``kernel_regularizer``, so a penalty attached to its inner kernels (WEISSI, L2) is lost by ``get_config`` and vanishes after ``.keras`` save/load | ``FeedForward`` accepts ``kernel_regularizer`` (for its inner, activated kernels: the output kernel is left alone), passes it to those ``Dense`` layers and writes it in ``get_config`` |
| shared initializers | tf-keras (unlike the Keras 2.3 bert4keras was written for) gives every call of one *unseeded* random initializer instance the same values, and bert4keras hands one instance to several weights: a model built from scratch started with identical q/k/v/o kernels in every attention layer and the same values in both FeedForward kernels | an unseeded initializer draws a new seed (from the seeded global RNG, so ``set_random_seed`` still reproduces it) on every call after its first; seeded initializers keep returning their fixed values |
| ``save_weights_as_checkpoint`` | uses ``tf.Session``/``tf.train.Saver`` of TF1 | replaced by :func:`bert4keras_ext.checkpoints.google.save_weights_as_checkpoint` (installed by that module) |

Not fixed (see README "Compatibility"): ``snippets.WebServing`` (TF1 sessions), h5 ``load_model`` of models with
bert4keras' GELU (use ``.keras``/SavedModel or ``save_weights``), the TF1-only adversarial-training examples.
"""
import os
import sys

_DONE = False


def _is_keras3_loaded():
    """True when the real Keras 3 package is already imported in this process."""
    mod = sys.modules.get('keras')
    if mod is None:
        return False
    name = getattr(mod, '__name__', '') or ''
    if name.startswith('tf_keras'):
        return False
    version = getattr(mod, '__version__', None) or getattr(mod, 'version', lambda: '')()
    return str(version).startswith('3')


def _set_environment():
    if 'tensorflow' not in sys.modules:
        os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    os.environ['TF_KERAS'] = '1'
    os.environ['TF_USE_LEGACY_KERAS'] = '1'


def _keras3_in_use():
    """True when ``tf.keras`` resolves to Keras 3 in this process.

    ``import tensorflow`` alone puts Keras 3 into ``sys.modules`` (TF depends on it), but ``tf.keras`` is a lazy
    loader that picks tf-keras on first use when ``TF_USE_LEGACY_KERAS=1`` is set by then (``_set_environment``
    does it): that case is fine. Refused are a ``tf.keras`` already resolved to Keras 3, and Keras 3 imported
    without TensorFlow."""
    tf = sys.modules.get('tensorflow')
    if tf is None:
        return _is_keras3_loaded()
    try:
        module = tf.keras.layers.Layer.__module__  # resolves the lazy loader (now with the variables set)
    except Exception:  # pragma: no cover - a TensorFlow without tf.keras
        return _is_keras3_loaded()
    return not module.startswith('tf_keras')


def _forget_keras3_modules():
    """``import tensorflow`` imports Keras 3 (``keras``, ``keras.layers``, ...) although ``tf.keras`` will be
    tf-keras. bert4keras swaps ``sys.modules['keras']`` for ``tf.keras`` but then ``from keras.layers import *``
    would still find Keras 3's ``keras.layers`` entry and build Keras 3 layers. Dropping those entries (the module
    objects stay alive for whoever holds them) makes bert4keras' imports resolve through tf-keras."""
    if not _is_keras3_loaded():
        return
    for name in [n for n in sys.modules if n == 'keras' or n.startswith('keras.')]:
        del sys.modules[name]


def _check_imports():
    if _keras3_in_use():
        raise ImportError(
            'bert4keras_ext needs Keras 2 (tf-keras), but tf.keras already resolved to Keras 3 in this process. '
            'Import bert4keras_ext (or set TF_USE_LEGACY_KERAS=1 and TF_KERAS=1) before the first use of '
            'tf.keras or keras, and do not use Keras 3 libraries (e.g. keras-hub) in the same process.')
    try:
        import tf_keras  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            'bert4keras_ext needs tf-keras (the Keras 2 API for TensorFlow 2.16+), which is not installed: '
            'run `pip install "tf-keras==2.21.*"`.') from exc
    try:
        import bert4keras  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            'bert4keras_ext needs bert4keras 0.11.5, which is not installed. Its `keras<=2.3.1` pin conflicts '
            'with TensorFlow 2.21, so install it without dependencies: '
            '`pip install --no-deps bert4keras==0.11.5`.') from exc


def _fix_optimizers():
    from bert4keras.backend import keras
    if 'bert4keras.optimizers' in sys.modules:
        opt = sys.modules['bert4keras.optimizers']
        if not issubclass(opt.Adam, keras.optimizers.legacy.Optimizer):
            raise ImportError(
                'bert4keras.optimizers was imported before bert4keras_ext, so its optimizers are built on the '
                'new tf-keras optimizer and cannot work. Import bert4keras_ext first.')
    else:
        new_optimizer = keras.optimizers.Optimizer
        keras.optimizers.Optimizer = keras.optimizers.legacy.Optimizer
        try:
            import bert4keras.optimizers as opt
        finally:
            keras.optimizers.Optimizer = new_optimizer

    base = opt.AdaFactorBase
    if not getattr(base, '_bert4keras_ext_fixed', False):
        original = base.learning_rate

        def learning_rate(self):
            if self._learning_rate is None:
                return original.fget(self)
            var = self.__dict__.get('_ext_learning_rate_var')
            if var is None:
                from bert4keras.backend import K
                with K.name_scope(self.__class__.__name__):
                    var = K.variable(self._learning_rate, name='learning_rate')
                self.__dict__['_ext_learning_rate_var'] = var
            return var

        base.learning_rate = property(learning_rate)
        base._bert4keras_ext_fixed = True


def recompute_grad(call):
    """Gradient checkpointing for a Keras layer's ``call`` (what ``RECOMPUTE=1`` turns on in bert4keras).

    The forward runs without recording; the backward re-runs ``call`` under a fresh tape and differentiates it with
    respect to the distinct input tensors and the layer's trainable weights.
    """
    import tensorflow as tf
    from tensorflow.python.eager import record
    from tensorflow.python.util import nest, tf_inspect

    call_args = tf_inspect.getfullargspec(call).args

    def inner(self, inputs, **kwargs):
        for key in ('mask', 'training'):
            if key not in call_args and key in kwargs:
                del kwargs[key]
        flat = nest.flatten(inputs)
        distinct, seen = [], set()
        for t in flat:
            if id(t) not in seen:
                seen.add(id(t))
                distinct.append(t)
        with record.stop_recording():
            outputs = tf.identity(call(self, inputs, **kwargs))
        variables = list(self.trainable_weights)

        def backward(*doutputs):
            watches = distinct + variables
            with tf.GradientTape() as tape:
                tape.watch(watches)
                recomputed = call(self, inputs, **kwargs)
            grads = tape.gradient(recomputed, watches, output_gradients=list(doutputs))
            return grads

        watched = [tf.convert_to_tensor(t) for t in distinct] + [tf.convert_to_tensor(v) for v in variables]
        record.record_operation(call.__name__, nest.flatten(outputs), watched, backward)
        return outputs

    return inner


def _fix_recompute():
    from tensorflow.python.eager import record, tape
    if not hasattr(tape, 'stop_recording'):
        tape.stop_recording = record.stop_recording
    if not hasattr(tape, 'record_operation'):
        tape.record_operation = record.record_operation
    from bert4keras import backend
    if backend.do_recompute:
        if 'bert4keras.layers' in sys.modules:
            raise ImportError('RECOMPUTE=1 needs bert4keras_ext imported before bert4keras.layers '
                              '(the recompute decorator is applied when the layers are defined)')
        backend.recompute_grad = recompute_grad


def _fix_lambda_layers():
    from bert4keras import models
    from bert4keras.layers import Lambda
    from bert4keras_ext.layers.masks import LMMask, TakeFirstToken, UniLMMask

    replacements = {
        'Attention-LM-Mask': LMMask,
        'Attention-UniLM-Mask': UniLMMask,
        'Pooler': TakeFirstToken,
    }
    transformer = models.Transformer
    if getattr(transformer.apply, '_bert4keras_ext_fixed', False):
        return
    original_apply = transformer.apply

    def apply(self, inputs=None, layer=None, arguments=None, **kwargs):
        if layer is Lambda:
            name = kwargs.get('name') or ''
            short = name[len(self.prefix):] if self.prefix and name.startswith(self.prefix) else name
            if short in replacements and not arguments:
                kwargs.pop('function', None)
                layer = replacements[short]
        return original_apply(self, inputs=inputs, layer=layer, arguments=arguments, **kwargs)

    apply._bert4keras_ext_fixed = True
    transformer.apply = apply


def _fix_snippets():
    from bert4keras import snippets
    module = sys.modules['bert4keras.snippets']
    # bert4keras replaces its snippets module by a lazy hook object; set the name on the real module dict.
    target = getattr(module, '__dict__', None)
    if target is not None and 'unichr' not in target:
        setattr(module, 'unichr', chr)
    fn = getattr(snippets, 'strQ2B', None)
    if fn is not None and 'unichr' not in fn.__globals__:
        fn.__globals__['unichr'] = chr


def _fix_feedforward_regularizer():
    from bert4keras import layers
    cls = layers.FeedForward
    if getattr(cls, '_bert4keras_ext_regularizer', False):
        return
    import tensorflow as tf
    init, build, get_config = cls.__init__, cls.build, cls.get_config

    def __init__(self, *args, kernel_regularizer=None, **kwargs):
        init(self, *args, **kwargs)
        self.kernel_regularizer = tf.keras.regularizers.get(kernel_regularizer)

    def build_(self, input_shape):
        build(self, input_shape)
        for i in range(len(self.activation)):  # built on their first call, so add_weight sees the regularizer
            getattr(self, 'i%d_dense' % i).kernel_regularizer = self.kernel_regularizer

    def get_config_(self):
        config = get_config(self)
        if self.kernel_regularizer is not None:
            config['kernel_regularizer'] = tf.keras.regularizers.serialize(self.kernel_regularizer)
        return config

    cls.__init__, cls.build, cls.get_config = __init__, build_, get_config_
    cls._bert4keras_ext_regularizer = True


def _fix_initializer_reuse():
    """Every call of an unseeded random initializer instance draws new values (Keras 2.3 semantics).

    tf-keras builds the values of ``RandomNormal``, ``TruncatedNormal``, ``VarianceScaling`` (Glorot, He, ...),
    ``Orthogonal`` ... with a stateless generator whose seed is fixed on first use, and only warns when the same
    unseeded instance is called again. Each of those ``__call__`` methods calls ``_warn_reuse`` before drawing; on a
    repeated call of an unseeded instance we give it a fresh generator, whose seed comes from the global RNG that
    ``tf.keras.utils.set_random_seed`` seeds.
    """
    from tf_keras.src import backend
    from tf_keras.src.initializers import initializers as base
    cls = base.Initializer
    if getattr(cls, '_bert4keras_ext_fresh_draws', False):
        return

    def _warn_reuse(self):
        generator = getattr(self, '_random_generator', None)
        if getattr(self, '_used', False) and getattr(self, 'seed', None) is None and generator is not None:
            self._random_generator = backend.RandomGenerator(None, rng_type=generator._rng_type)
        self._used = True

    cls._warn_reuse = _warn_reuse
    cls._bert4keras_ext_fresh_draws = True


def apply():
    """Arrange the environment and apply the fixes (idempotent)."""
    global _DONE
    if _DONE:
        return
    _set_environment()
    _check_imports()
    _forget_keras3_modules()
    import bert4keras.backend  # noqa: F401  (performs the keras -> tf.keras switch)
    _fix_optimizers()
    _fix_recompute()
    _fix_lambda_layers()
    _fix_snippets()
    _fix_feedforward_regularizer()
    _fix_initializer_reuse()
    from bert4keras_ext.checkpoints import google
    google.install_transformer_methods()
    _DONE = True


def keras_version():
    """The Keras version that tf.keras resolves to (must start with '2.')."""
    import tf_keras
    return tf_keras.__version__
