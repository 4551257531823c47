"""Run as a script (tests/test_strategy.py does, in a fresh process): each check trains the same model one step
under MirroredStrategy on 2 logical CPUs and on one device, on the same global batch, and prints one JSON line
``{"check": name, "max_weight_diff": ..., "loss": [mirrored, one device], "moved": ...}``."""
import json
import sys

import numpy as np

import bert4keras_ext  # noqa: F401
import tensorflow as tf

from tasks import experiment

experiment.split_cpu(2)
MIRRORED = experiment.make_strategy('mirrored')  # the one the tasks' start() uses too
ONE = tf.distribute.get_strategy()
RNG = np.random.RandomState(0)
X = RNG.normal(size=(16, 4)).astype('float32')
Y = (X[:, 0] > 0).astype('int32')


def report(name, weights, losses, start):
    diff = max(float(np.abs(a - b).max()) for a, b in zip(*weights))
    moved = max(float(np.abs(a - b).max()) for a, b in zip(weights[1], start))
    print(json.dumps({'check': name, 'max_weight_diff': diff, 'loss': losses, 'moved': moved,
                      'replicas': MIRRORED.num_replicas_in_sync}), flush=True)


def dense_step(name, loss_factory, model_factory=None, x=X, y=Y):
    """One SGD step of a Dense classifier with ``loss_factory()``; ``model_factory(inputs, outputs)``."""
    weights, losses, start = [], [], None
    for strategy in (MIRRORED, ONE):
        with strategy.scope():
            inp = tf.keras.Input((4,))
            out = tf.keras.layers.Dense(2, kernel_initializer=tf.keras.initializers.GlorotUniform(seed=1))(inp)
            model = (model_factory or tf.keras.Model)(inp, out)
            model.compile(tf.keras.optimizers.SGD(0.5), loss_factory())
        start = [w.numpy().copy() for w in model.trainable_weights]
        history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
        weights.append([w.numpy() for w in model.trainable_weights])
        losses.append(float(history.history['loss'][0]))
    report(name, weights, losses, start)


def sparse_ce_fn(y_true, y_pred):
    return tf.keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)


def check_flooded():
    from bert4keras_ext.losses import Flooded
    sce = tf.keras.losses.SparseCategoricalCrossentropy
    dense_step('flooded_fn_b0', lambda: Flooded(sparse_ce_fn, b=0.0))
    dense_step('flooded_object_b0', lambda: Flooded(sce(from_logits=True), b=0.0))
    dense_step('flooded_object_ascent', lambda: Flooded(sce(from_logits=True), b=5.0))  # below b: ascent
    # a flood level between the two replicas' means: one replica alone would ascend, the global mean descends
    inp = tf.keras.Input((4,))
    probe = tf.keras.Model(inp, tf.keras.layers.Dense(
        2, kernel_initializer=tf.keras.initializers.GlorotUniform(seed=1))(inp))
    halves = [float(sce(from_logits=True)(Y[part], probe(X[part]))) for part in (slice(0, 8), slice(8, 16))]
    mean = sum(halves) / 2
    b = (min(halves) + mean) / 2
    print(json.dumps({'check': 'flood_level_between', 'halves': halves, 'b': b}), flush=True)
    dense_step('flooded_object_b_between', lambda: Flooded(sce(from_logits=True), b=b))


def check_flooding_model():
    from bert4keras_ext.training import FloodingModel
    sce = tf.keras.losses.SparseCategoricalCrossentropy
    dense_step('flooding_model', lambda: sce(from_logits=True),
               lambda i, o: FloodingModel(i, o, flood_level=0.6))


def check_flooding_fit():
    """FloodingModel over 6 epochs of 4 steps (ascents happen) and the gradient penalty on the global gradient
    (the sum of the replicas' norms would about halve it): mirrored equals one device step for step."""
    from bert4keras_ext.training import FloodingModel
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 5)).astype('float32')
    y = (x[:, :1] > 0).astype('float32')
    for name, b, penalty in (('flooding_fit', 0.6, 0.0), ('gradient_penalty_fit', None, 0.5),
                             ('no_penalty_fit', None, 0.0)):
        weights, losses, ascents = [], [], []
        for strategy in (MIRRORED, ONE):
            tf.keras.utils.set_random_seed(1)
            with strategy.scope():
                inp = tf.keras.Input((5,))
                out = tf.keras.layers.Dense(1, activation='sigmoid')(inp)
                model = FloodingModel(inp, out, flood_level=b, gradient_penalty=penalty)
                model.compile(tf.keras.optimizers.SGD(0.5), 'binary_crossentropy')
            start = [w.numpy().copy() for w in model.trainable_weights]
            h = model.fit(x, y, batch_size=16, epochs=6, shuffle=False, verbose=0)
            weights.append([w.numpy() for w in model.trainable_weights])
            losses.append(float(h.history['loss'][-1]))
            ascents.append(h.history['ascent'])
        report(name, weights, losses, start)
        print(json.dumps({'check': name + '_ascent', 'ascent': ascents,
                          'kernel': weights[1][0].ravel().tolist()}), flush=True)


def check_theseus():
    from bert4keras_ext.checkpoints import make_tiny_checkpoint
    from bert4keras_ext.checkpoints.google import read_config
    from bert4keras_ext.classification import head_model
    from bert4keras_ext.layers import build_theseus
    from bert4keras_ext.models import build_model
    import tempfile
    ckpt = make_tiny_checkpoint(tempfile.mkdtemp(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=32, seed=1)
    config = read_config(ckpt + '/bert_config.json')
    ids = RNG.randint(5, 40, size=(8, 6)).astype('int32')
    ids[:, 0] = 2
    x, y = [ids, np.zeros_like(ids)], np.arange(8) % 2
    weights, losses, start = [], [], None
    for strategy in (MIRRORED, ONE):
        with strategy.scope():
            tf.keras.utils.set_random_seed(0)
            pred = build_model(config, prefix='P-')
            succ = build_model(dict(config, num_hidden_layers=1), prefix='S-')
            head = head_model(16, 2, dropout=0.0)
            _, _, model = build_theseus(pred, succ, head, rate=1.0)  # rate 1: no random draw differs
            model.compile(tf.keras.optimizers.SGD(0.5),
                          tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if start is None:
            init = model.get_weights()
        model.set_weights(init)
        start = init
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        weights.append(model.get_weights())
        losses.append(float(history.history['loss'][0]))
    report('theseus', weights, losses, start)


def check_mgs():
    from bert4keras_ext.training import MGSTrainer
    from bert4keras_ext.training.task_losses import macro_f1_loss
    weights, losses, start = [], [], None
    for strategy in (MIRRORED, ONE):
        with strategy.scope():
            inp = tf.keras.Input((4,))
            out = tf.keras.layers.Dense(2, kernel_initializer=tf.keras.initializers.GlorotUniform(seed=1))(inp)
            model = tf.keras.Model(inp, out)
            model.compile(tf.keras.optimizers.SGD(0.5),
                          tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        start = [w.copy() for w in model.get_weights()]
        MGSTrainer(model, macro_f1_loss, num_candidates=2, seed=3).train_step(X, Y)
        weights.append(model.get_weights())
        losses.append(0.0)
    report('mgs', weights, losses, start)


def check_task_scope():
    """``--strategy mirrored`` through the tasks' own start(): the classifier a task builds afterwards has mirrored
    variables and one epoch of it equals one device on the same global batches; a whole task run (flooding, tiny
    checkpoint, the package's fine-tuning recipe, FloodingModel) trains and records 2 replicas inside the scope."""
    import tempfile
    from bert4keras_ext import classification as clf
    from bert4keras_ext.checkpoints import make_tiny_checkpoint
    ckpt = make_tiny_checkpoint(tempfile.mkdtemp(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=32, seed=1)
    ids = RNG.randint(5, 40, size=(16, 8)).astype('int32')
    ids[:, 0] = 2
    x, y = [ids, np.zeros_like(ids)], np.arange(16) % 2
    weights, losses, kinds, start = [], [], [], None
    for name in ('mirrored', 'default'):
        args = experiment.parser('x', 'x').parse_args(['--strategy', name, '--output_dir', tempfile.mkdtemp()])
        ctx = experiment.start(args)
        tf.keras.utils.set_random_seed(0)
        model, _ = clf.build_classifier(ckpt + '/bert_config.json', ckpt + '/bert_model.ckpt', 2, dropout=0.0)
        kinds.append(type(model.trainable_weights[0]).__name__)
        start = [w.numpy().copy() for w in model.trainable_weights]
        model.compile(tf.keras.optimizers.SGD(0.5), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # the same global batches
        weights.append([w.numpy() for w in model.trainable_weights])
        losses.append(float(history.history['loss'][-1]))
        ctx.close()
    report('task_fine_tune', weights, losses, start)
    from tasks import flooding
    paths = ['--config_path', ckpt + '/bert_config.json', '--checkpoint_path', ckpt + '/bert_model.ckpt',
             '--dict_path', ckpt + '/vocab.txt']
    out = tempfile.mkdtemp()
    flooding.main(['--quick', '--train_size', '32', '--test_size', '30', '--epochs', '1', '--flood_levels', '0.3',
                   '--maxlen', '16',
                   '--strategy', 'mirrored', '--output_dir', out] + paths)
    with open(out + '/results.json') as f:
        run = json.load(f)
    print(json.dumps({'check': 'task_scope', 'variable_types': kinds, 'strategy': run['strategy'],
                      'in_scope_after': bool(tf.distribute.has_strategy())}), flush=True)


if __name__ == '__main__':
    for name in sys.argv[1:] or ['flooded', 'flooding_model', 'flooding_fit', 'theseus', 'mgs', 'task_scope']:
        globals()['check_' + name]()
