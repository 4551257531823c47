"""Google-format BERT checkpoints (``bert_config.json``, ``bert_model.ckpt.*``, ``vocab.txt``): load with a report,
save back bit-exactly.

bert4keras' own loader zips a layer's *trainable* weights with checkpoint names (so a frozen layer silently loads
nothing), prints and skips missing variables, and its ``save_weights_as_checkpoint`` needs TF1 sessions. Here:

* :func:`load_weights` checks every variable first (present? same shape after bert4keras' own transforms such as
  ``keep_tokens``?) and assigns nothing unless all is well or the caller allowed the problem;
* :func:`load_model` reads a checkpoint directory, validates config and vocabulary, builds the bert4keras model and
  returns it with its :class:`~bert4keras_ext.checkpoints.report.LoadReport`;
* :func:`save_weights_as_checkpoint` / :func:`save_checkpoint_dir` write TF1-style name-based checkpoints through
  ``tf.compat.v1`` in a fresh graph (bert4keras' ``Transformer.save_weights_as_checkpoint`` is re-pointed here).
"""
import glob
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from bert4keras_ext.checkpoints.report import CheckpointError, LoadReport, is_training_state
from bert4keras_ext.models import build_model

CONFIG_NAMES = ('bert_config.json', 'config.json', 'albert_config.json')
VOCAB_NAMES = ('vocab.txt',)
REQUIRED_CONFIG_KEYS = ('vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads',
                        'intermediate_size', 'hidden_act')


# ---------------------------------------------------------------------------------------------------------------
# Locating and validating files
# ---------------------------------------------------------------------------------------------------------------

def find_checkpoint_files(directory):
    """``(config_path, checkpoint_prefix, vocab_path or None)`` of a Google-format checkpoint directory."""
    if not os.path.exists(directory):
        raise CheckpointError('checkpoint directory %s does not exist: pass the folder that holds '
                              'bert_config.json, bert_model.ckpt.* and vocab.txt' % directory)
    if not os.path.isdir(directory):
        raise CheckpointError('%s is a file, not a checkpoint directory: pass its folder, or use '
                              '--config_path/--checkpoint_path/--dict_path for single files' % directory)
    config = next((os.path.join(directory, n) for n in CONFIG_NAMES
                   if os.path.isfile(os.path.join(directory, n))), None)
    if config is None:
        raise CheckpointError('%s has no bert_config.json (nor config.json): a Google-format checkpoint directory '
                              'needs its config file' % directory)
    prefix = checkpoint_prefix(directory)
    vocab = next((os.path.join(directory, n) for n in VOCAB_NAMES
                  if os.path.isfile(os.path.join(directory, n))), None)
    return config, prefix, vocab


def checkpoint_prefix(path):
    """Resolve a checkpoint prefix from a prefix (``.../bert_model.ckpt``) or a directory holding one."""
    if os.path.isdir(path):
        # Prefer files inside the directory: a TF 'checkpoint' state file may hold an absolute path elsewhere.
        default = os.path.join(path, 'bert_model.ckpt')
        if os.path.isfile(default + '.index'):
            return default
        indexes = sorted(glob.glob(os.path.join(path, '*.index')))
        if not indexes:
            raise CheckpointError('directory %s holds no TensorFlow checkpoint (no *.index file): expected '
                                  'bert_model.ckpt.index and bert_model.ckpt.data-*' % path)
        if len(indexes) > 1:
            raise CheckpointError('directory %s holds several checkpoints (%s): pass the one to load as '
                                  '--checkpoint_path' % (path, ', '.join(os.path.basename(i) for i in indexes)))
        return indexes[0][:-len('.index')]
    for suffix in ('.index', '.meta'):
        if path.endswith(suffix):
            path = path[:-len(suffix)]
    if '.data-' in path:
        path = path[:path.index('.data-')]
    if not os.path.isfile(path + '.index'):
        raise CheckpointError('checkpoint %s not found (no %s.index): pass the prefix, e.g. '
                              '.../bert_model.ckpt' % (path, path))
    return path


def check_data_files(prefix):
    """A missing ``.data-*`` shard is named (TensorFlow would only say the checkpoint cannot be read)."""
    shards = sorted(glob.glob(glob.escape(prefix) + '.data-*-of-*'))
    if not shards:
        raise CheckpointError('checkpoint %s has its .index file but no data file (%s.data-00000-of-00001): copy '
                              'the bert_model.ckpt.data-* file(s) next to the index' % (prefix, prefix))
    total = int(shards[0].rsplit('-of-', 1)[1])
    expected = ['%s.data-%05d-of-%05d' % (prefix, i, total) for i in range(total)]
    missing = [os.path.basename(p) for p in expected if not os.path.isfile(p)]
    if missing:
        raise CheckpointError('checkpoint %s lacks data file(s) %s: copy every bert_model.ckpt.data-* shard next '
                              'to the index' % (prefix, ', '.join(missing)))


def read_config(path):
    """Read and check a BERT config JSON; errors name the file and the field."""
    if not os.path.isfile(path):
        raise CheckpointError('config file %s does not exist' % path)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError('config file %s is not valid JSON (line %d, column %d: %s): fix or re-download it'
                              % (path, exc.lineno, exc.colno, exc.msg)) from exc
    if not isinstance(config, dict):
        raise CheckpointError('config file %s must hold a JSON object, found %s' % (path, type(config).__name__))
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in config]
    if missing:
        raise CheckpointError('config file %s lacks %s: a BERT config needs %s'
                              % (path, ', '.join(missing), ', '.join(REQUIRED_CONFIG_KEYS)))
    return config


def count_vocab(path):
    """Number of tokens in a vocab.txt (one per line, as bert4keras' load_vocab reads it)."""
    with open(path, encoding='utf-8') as f:
        return sum(1 for line in f if line.split())


WORD_EMBEDDINGS = 'bert/embeddings/word_embeddings'


def checkpoint_vocab_rows(checkpoint):
    """Rows of the word-embedding table in ``checkpoint`` (a prefix/directory or a ``{name: array}`` dict), or None
    when it has no BERT word-embedding table."""
    try:
        _, shapes, _ = _open(checkpoint)
    except CheckpointError:
        return None
    shape = shapes.get(WORD_EMBEDDINGS)
    return int(shape[0]) if shape else None


def check_vocab(vocab_path, config, config_path='', checkpoint_rows=None):
    """Check that ``vocab_path``, the config's ``vocab_size`` and (when given) the checkpoint's word-embedding rows
    agree; the error says which of the three is the odd one out.

    Args:
        vocab_path: a vocab.txt. config: the config dict. config_path: its file (for the message).
        checkpoint_rows: rows of the checkpoint's word-embedding table (:func:`checkpoint_vocab_rows`), or None.

    Returns:
        The number of tokens in the vocabulary.
    """
    n = count_vocab(vocab_path)
    size = config['vocab_size']
    where = config_path or 'the config'
    if n == size and checkpoint_rows in (None, size):
        return n
    if checkpoint_rows is not None and n == checkpoint_rows != size:
        raise CheckpointError('%s says vocab_size=%d but the checkpoint\'s word embeddings have %d rows, as %s '
                              'has tokens: set vocab_size to %d in %s' % (where, size, n, vocab_path, n, where))
    if checkpoint_rows is not None and n != checkpoint_rows == size:
        raise CheckpointError('%s has %d tokens but the checkpoint and %s have vocab_size=%d: use the vocab.txt '
                              'that belongs to this checkpoint' % (vocab_path, n, where, size))
    if checkpoint_rows is not None:
        raise CheckpointError('vocabulary sizes disagree: %s has %d tokens, %s says vocab_size=%d, the checkpoint '
                              'has %d word-embedding rows: use the config and vocab.txt that belong to this '
                              'checkpoint' % (vocab_path, n, where, size, checkpoint_rows))
    raise CheckpointError('%s has %d tokens but %s says vocab_size=%d: one of them does not belong to this '
                          'checkpoint (use the vocab.txt and the config published with it)'
                          % (vocab_path, n, where, size))


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------

class _LazyCheckpoint(dict):
    """A dict view of a checkpoint reader, so bert4keras' ``load_variable`` (which accepts dicts) applies its own
    transforms (``keep_tokens``, NSP transpose, ...) while we read tensors one at a time."""

    def __init__(self, reader, source):
        super().__init__()
        self.reader = reader
        self.source = source

    def __missing__(self, name):
        try:
            return self.reader.get_tensor(name)
        except Exception as exc:  # tf.errors.DataLossError, IndexError on a short data file, ...
            raise CheckpointError('cannot read variable %s from checkpoint %s (%s: %s): the data file may be '
                                  'truncated; re-download it' % (name, self.source, type(exc).__name__, exc)) from exc


def _open(checkpoint):
    """``(source_name, {name: shape}, dict-like)`` for a checkpoint prefix/directory or a dict of arrays."""
    if isinstance(checkpoint, dict):
        return '<dict>', {k: tuple(np.shape(v)) for k, v in checkpoint.items()}, checkpoint
    prefix = checkpoint_prefix(checkpoint)
    check_data_files(prefix)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as exc:  # corrupt data file, ...
        raise CheckpointError('cannot read checkpoint %s (%s): the files may be truncated; re-download them'
                              % (prefix, exc)) from exc
    shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    return prefix, shapes, _LazyCheckpoint(reader, prefix)


def _layer_weights(layer):
    # Creation order, trainable or not: a layer frozen before loading must still load.
    return list(layer.weights)


def load_weights(transformer, checkpoint, mapping=None, allow_missing=False, allow_mismatch=False):
    """Load a checkpoint (prefix, directory, or ``{name: array}`` dict) into a built bert4keras ``Transformer``.

    Every variable is checked before anything is assigned. Missing or shape-mismatched variables raise
    :class:`CheckpointError` naming them, unless ``allow_missing`` / ``allow_mismatch``; then they are skipped (the
    model keeps its initial values there) and listed in the returned :class:`LoadReport`.
    """
    source, shapes, store = _open(checkpoint)
    mapping = mapping or transformer.variable_mapping()
    mapping = {transformer.prefixed(k): v for k, v in mapping.items()}
    report = LoadReport(source=source)
    pairs, used = [], set()
    for layer_name, names in mapping.items():
        if layer_name not in transformer.layers:
            continue
        weights = _layer_weights(transformer.layers[layer_name])
        if len(weights) != len(names):
            raise CheckpointError('layer %s has %d weights but the mapping names %d checkpoint variables (%s): the '
                                  'mapping does not describe this layer' % (layer_name, len(weights), len(names),
                                                                           ', '.join(names)))
        for w, name in zip(weights, names):
            used.add(name)
            if name not in shapes:
                report.missing.append(name)
                continue
            value = np.asarray(transformer.load_variable(store, name))
            model_shape = tuple(w.shape.as_list())
            if tuple(value.shape) != model_shape:
                report.mismatched.append((name, tuple(value.shape), model_shape))
                continue
            pairs.append((w, value))
            report.loaded.append(name)
    report.unexpected = sorted(n for n in shapes if n not in used and not is_training_state(n))
    if report.missing and not allow_missing:
        raise CheckpointError('checkpoint %s lacks %d variable(s) the model needs: %s. Check that the config '
                              'matches the checkpoint (model type, number of layers), or pass allow_missing=True '
                              'to keep initial values for them.'
                              % (source, len(report.missing), ', '.join(report.missing[:10])))
    if report.mismatched and not allow_mismatch:
        desc = ', '.join('%s (checkpoint %s, model %s)' % (n, a, b) for n, a, b in report.mismatched[:10])
        raise CheckpointError('checkpoint %s has %d variable(s) whose shape differs from the model: %s. Check '
                              'the config (hidden_size, vocab_size, max_position_embeddings), or pass '
                              'allow_mismatch=True to skip them.' % (source, len(report.mismatched), desc))
    if pairs:
        tf.keras.backend.batch_set_value(pairs)
    return report


def load_model(directory=None, config_path=None, checkpoint_path=None, dict_path=None, model='bert',
               application='encoder', allow_missing=False, allow_mismatch=False, return_keras_model=True,
               **kwargs):
    """Build a bert4keras model from a Google-format checkpoint and load it, returning ``(model, report)``.

    Give ``directory`` (holding bert_config.json, bert_model.ckpt.*, vocab.txt) or the three paths, as bert4keras
    users have them. ``kwargs`` go to ``build_transformer_model`` (``with_mlm``, ``keep_tokens``, ``prefix``, ...).
    With ``return_keras_model=False`` the bert4keras ``Transformer`` builder is returned instead of its Keras model.
    """
    if directory is not None:
        found_config, found_prefix, found_vocab = find_checkpoint_files(directory)
        config_path = config_path or found_config
        checkpoint_path = checkpoint_path or found_prefix
        dict_path = dict_path or found_vocab
    if config_path is None or checkpoint_path is None:
        raise CheckpointError('load_model needs a checkpoint directory, or both config_path and checkpoint_path')
    config = read_config(config_path)
    prefix = checkpoint_prefix(checkpoint_path)
    if dict_path is not None and kwargs.get('keep_tokens') is None:
        if not os.path.isfile(dict_path):
            raise CheckpointError('vocabulary file %s does not exist' % dict_path)
        check_vocab(dict_path, config, config_path, checkpoint_rows=checkpoint_vocab_rows(prefix))
    transformer = build_model(config, model=model, application=application, **kwargs)
    report = load_weights(transformer, prefix, allow_missing=allow_missing, allow_mismatch=allow_mismatch)
    return (transformer.model if return_keras_model else transformer), report


# ---------------------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------------------

def save_weights_as_checkpoint(transformer, filename, mapping=None, dtype=None):
    """Write the model's mapped weights as a TF1 name-based checkpoint at prefix ``filename``.

    Values are read eagerly first, then written from a fresh ``tf.Graph`` with ``tf.compat.v1`` (the model's own
    ``create_variable`` applies the inverse of its load transforms, e.g. BERT's NSP transpose).
    """
    mapping = mapping or transformer.variable_mapping()
    mapping = {transformer.prefixed(k): v for k, v in mapping.items()}
    named_values = []
    for layer_name, names in mapping.items():
        if layer_name not in transformer.layers:
            continue
        values = tf.keras.backend.batch_get_value(_layer_weights(transformer.layers[layer_name]))
        named_values.extend(zip(names, values))
    if not named_values:
        raise CheckpointError('nothing to save: no layer of the model matches its variable mapping')
    directory = os.path.dirname(os.path.abspath(filename))
    os.makedirs(directory, exist_ok=True)
    with tf.Graph().as_default():
        variables, values = [], []
        for name, value in named_values:
            variable, value = transformer.create_variable(name, value, dtype)
            variables.append(variable)
            values.append(value)
        placeholders = [tf.compat.v1.placeholder(v.dtype.base_dtype, shape=v.shape) for v in variables]
        assigns = [v.assign(p) for v, p in zip(variables, placeholders)]
        with tf.compat.v1.Session() as sess:
            for assign, placeholder, value in zip(assigns, placeholders, values):
                sess.run(assign, {placeholder: value})
            saver = tf.compat.v1.train.Saver(variables)
            saver.save(sess, filename, write_meta_graph=False, write_state=False)
    return filename


def save_checkpoint_dir(transformer, directory, config=None, vocab=None, name='bert_model.ckpt'):
    """Write a complete Google-format directory: ``bert_config.json``, ``bert_model.ckpt.*`` and ``vocab.txt``.

    ``config``: dict to write (default: derived from the builder); ``vocab``: a list of tokens or a path to copy.
    Returns the directory.
    """
    os.makedirs(directory, exist_ok=True)
    config = dict(config) if config else google_config_from_transformer(transformer)
    with open(os.path.join(directory, 'bert_config.json'), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
    save_weights_as_checkpoint(transformer, os.path.join(directory, name))
    if vocab is not None:
        target = os.path.join(directory, 'vocab.txt')
        if isinstance(vocab, (str, os.PathLike)):
            if os.path.abspath(vocab) != os.path.abspath(target):
                shutil.copyfile(vocab, target)
        else:
            with open(target, 'w', encoding='utf-8') as f:
                f.write('\n'.join(vocab) + '\n')
    return directory


def _activation_name(act):
    """The config name of a builder's ``hidden_act`` (a string, a list of one, or a Keras activation function)."""
    if isinstance(act, (list, tuple)) and len(act) == 1:
        act = act[0]
    if isinstance(act, str):
        return act
    name = getattr(act, '__name__', None)
    if name in ('gelu', 'gelu_erf', 'gelu_tanh', 'relu', 'swish', 'tanh', 'sigmoid', 'linear'):
        return name
    raise ValueError('hidden_act %r has no Google-format config name: pass config=... with the activation name '
                     'to write' % (act,))


def google_config_from_transformer(transformer):
    """A Google-format config dict describing a built bert4keras BERT-family builder."""
    return {
        'vocab_size': int(transformer.vocab_size),
        'hidden_size': int(transformer.hidden_size),
        'num_hidden_layers': int(transformer.num_hidden_layers),
        'num_attention_heads': int(transformer.num_attention_heads),
        'intermediate_size': int(transformer.intermediate_size),
        'hidden_act': _activation_name(transformer.hidden_act),
        'hidden_dropout_prob': float(transformer.dropout_rate),
        'attention_probs_dropout_prob': float(transformer.attention_dropout_rate),
        'max_position_embeddings': int(getattr(transformer, 'max_position', 512)),
        'type_vocab_size': int(getattr(transformer, 'segment_vocab_size', 2)),
        'initializer_range': 0.02,
    }


def install_transformer_methods():
    """Point bert4keras' ``Transformer.save_weights_as_checkpoint`` at :func:`save_weights_as_checkpoint`."""
    from bert4keras.models import Transformer

    def method(self, filename, mapping=None, dtype=None):
        return save_weights_as_checkpoint(self, filename, mapping=mapping, dtype=dtype)

    method.__doc__ = save_weights_as_checkpoint.__doc__
    Transformer.save_weights_as_checkpoint = method
