import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext import metrics
from bert4keras_ext.training import MGSTrainer, boltzmann_update, gaussian, uniform_ball
from bert4keras_ext.training.task_losses import macro_f1_loss

G = np.array([1.0, -2.0, 0.5])
H = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])


def test_first_order_on_a_ball_is_gradient_descent():
    rng = np.random.RandomState(0)
    d = uniform_ball(rng, 200_000, 3, radius=0.1)
    est, _ = boltzmann_update(lambda th: float(G @ th), np.zeros(3), d, np.zeros(len(d)), alpha=0.05)
    cosine = est @ -G / (np.linalg.norm(est) * np.linalg.norm(G))
    assert cosine > 0.999


def test_second_order_is_newton():
    rng = np.random.RandomState(0)
    quad = lambda th: float(G @ th + 0.5 * th @ H @ th)  # noqa: E731
    d, log_q = gaussian(rng, 400_000, np.zeros(3), sigma=3.0)
    est, _ = boltzmann_update(quad, np.zeros(3), d, log_q, alpha=0.2)
    np.testing.assert_allclose(est, -np.linalg.solve(H, G), atol=0.05)


def test_estimates_converge_with_more_samples():
    quad = lambda th: float(G @ th + 0.5 * th @ H @ th)  # noqa: E731
    target = -np.linalg.solve(H, G)

    def error(n, seed):
        d, log_q = gaussian(np.random.RandomState(seed), n, np.zeros(3), sigma=3.0)
        return np.linalg.norm(boltzmann_update(quad, np.zeros(3), d, log_q, alpha=0.2)[0] - target)

    small = np.mean([error(200, s) for s in range(20)])
    large = np.mean([error(20_000, s) for s in range(20)])
    assert large < 0.3 * small


def small_classifier():
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((4,))
    out = tf.keras.layers.Dense(2)(tf.keras.layers.Dense(8, activation='relu')(inp))
    model = tf.keras.Model(inp, out)
    model.compile(tf.keras.optimizers.AdamW(1e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def data():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 4)).astype('float32')
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0.8).astype('int32')  # imbalanced


def test_candidates_restore_parameters_exactly_and_optimizer_untouched():
    model = small_classifier()
    x, y = data()
    trainer = MGSTrainer(model, macro_f1_loss, num_candidates=4, seed=1)
    grads, _ = trainer.mle_gradient(x, y)
    before = [v.numpy().copy() for v in model.trainable_variables]
    eps, _ = trainer.candidates([-g for g in grads])
    base, values = trainer.task_losses(eps, (x, y))
    for b, v in zip(before, model.trainable_variables):
        assert b.tobytes() == v.numpy().tobytes()
    assert len(values) == 4 and 0 <= base <= 1
    assert int(model.optimizer.iterations.numpy()) == 0
    trainer.train_step(x, y)
    assert int(model.optimizer.iterations.numpy()) == 1


def test_weights_favour_candidates_that_lower_the_task_loss():
    model = small_classifier()
    x, y = data()
    trainer = MGSTrainer(model, lambda m, b: 0.0, num_candidates=4, beta=50.0, seed=0)
    calls = iter([0.5, 0.9, 0.1, 0.9, 0.9])  # base, then candidates: candidate 1 is the best

    trainer.task_loss = lambda m, b: next(calls)
    record = trainer.train_step(x, y)
    assert int(np.argmax(record['weights'])) == 1 and record['weights'][1] > 0.99


def test_task_loss_decides_the_weights_in_a_wide_model():
    # ~67k parameters: with the exact (sigma-scaled) proposal density, log q alone would differ between candidates
    # by hundreds of nats and pick one whatever its task loss; with the unit-variance density of the authors' code
    # the task loss decides, for every draw
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((4,))
    h = tf.keras.layers.Dense(256, activation='relu')(tf.keras.layers.Dense(256, activation='relu')(inp))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2)(h))
    model.compile(tf.keras.optimizers.AdamW(1e-3), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data()
    for best in range(4):
        trainer = MGSTrainer(model, lambda m, b: 0.0, num_candidates=4, beta=50.0, seed=best)
        calls = iter([0.5] + [0.1 if i == best else 0.9 for i in range(4)])
        trainer.task_loss = lambda m, b: next(calls)
        record = trainer.train_step(x, y)
        assert int(np.argmax(record['weights'])) == best and record['weights'][best] > 0.99


def test_mgs_improves_macro_f1_over_steps():
    model = small_classifier()
    x, y = data()
    start = macro_f1_loss(model, (x, y))
    trainer = MGSTrainer(model, macro_f1_loss, num_candidates=4, beta=20.0, seed=0)
    trainer.fit(x, y, epochs=15, batch_size=64)
    assert macro_f1_loss(model, (x, y)) < start


def test_modes_and_errors():
    model = small_classifier()
    x, y = data()
    alt = MGSTrainer(model, macro_f1_loss, mode='alternate', mle_every=2)
    kinds = [alt.train_step(x, y)['kind'] for _ in range(4)]
    assert kinds == ['mgs', 'mle', 'mgs', 'mle']
    with pytest.raises(ValueError, match="mode must be"):
        MGSTrainer(model, macro_f1_loss, mode='x')
    raw = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    with pytest.raises(ValueError, match='compile the model first'):
        MGSTrainer(raw, macro_f1_loss)
    with pytest.raises(ValueError, match='fewer than one batch of 32'):  # used to run zero steps, silently
        alt.fit(x[:10], y[:10], batch_size=32)


def test_edit_distance():
    assert metrics.edit_distance('kitten', 'sitting') == 3
    assert metrics.edit_distance([1, 2], []) == 2


