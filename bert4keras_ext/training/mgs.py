"""MLE-guided parameter search (MGS; Welleck & Cho, AAAI 2021; article 2) for any Keras / bert4keras model.

Per batch (:meth:`MGSTrainer.train_step`):

1. ``g``: the MLE gradient of the model's compiled loss on the batch, clipped to global norm ``max_grad_norm``;
   the MLE direction is ``-g``.
2. ``K`` candidate directions from the mixture ``½ N(0, σ²I) + ½ N(-g, σ²I)`` (even candidates around ``-g``, odd
   around 0, as the reference code), ``σ = noise × mean|g|`` per weight tensor.
3. The task loss ``d(θ + ε_i)`` of each candidate on the batch (any Python function of the model and the batch:
   predictions for classification, decoding for sequences), parameters restored exactly after each.
4. Weights ``w_i = softmax_i(-β (d_i - d(θ)) - log q(ε_i))``; the update ``Σ w_i ε_i`` is handed to the model's
   own tf-keras optimizer as the gradient ``-Σ w_i ε_i`` (so AdamW, warm-up schedules, clipping all apply).

``log q`` is the mixture density with unit variance in raw parameter units, as the authors' code computes it
(wellecks/mgs ``compute_weight``): ``log(½ exp(-½|ε|²) + ½ exp(-½|ε - (-g)|²))``. The exact density of the draws
(variance ``σ²`` per tensor) is not used on purpose: over millions of parameters its value varies between the K
candidates by thousands of nats (chi-square noise of ``|ξ|²/σ²``, std ``≈ √(N/2)``), so ``softmax`` puts all weight on
one candidate whatever its task loss (``β Δd`` is at most ``β``). Measured on the 5.2M-parameter default BERT: spreads
of 90–5,400 nats, weights one-hot and blind to the task loss. With unit variance the spread is of order ``|g|² ≤ 1``
(the gradient is clipped) and the task loss decides.

``mle_mix``: with ``mode='alternate'`` every ``mle_every``-th step is a plain MLE step; with ``mode='weighted'`` the
update is ``(1 - mle_mix) Σ w_i ε_i + mle_mix (-g)``. Candidate evaluation never touches the optimizer (its
iteration count and slots change only in the final ``apply_gradients``).
"""
import numpy as np
import tensorflow as tf


class MGSTrainer:
    """MLE-guided parameter search over a compiled Keras model (see the module docstring for one step).

    Args:
        model: a compiled Keras model; its loss gives the MLE gradient and its optimizer applies the update.
        task_loss: ``task_loss(model, batch) -> float``, the (non-differentiable) loss to minimise, e.g.
            :func:`bert4keras_ext.training.task_losses.macro_f1_loss`.
        num_candidates: K, candidate directions per step.
        beta: inverse temperature of the candidate weights.
        noise: sigma as a multiple of the mean absolute MLE gradient of each weight tensor.
        max_grad_norm: clip of the MLE gradient and of the final update (global norm).
        mode: ``'mgs'``, ``'alternate'`` (an MLE step every ``mle_every`` steps) or ``'weighted'`` (``mle_mix``
            of the MLE direction mixed into every update).
        seed: seed of the candidate noise.

    Example::

        model.compile(tf.keras.optimizers.Adam(1e-4), tf.keras.losses.SparseCategoricalCrossentropy(True))
        trainer = MGSTrainer(model, macro_f1_loss, num_candidates=4, mode='alternate')
        trainer.fit(x_train, y_train, epochs=2, batch_size=32)
    """

    def __init__(self, model, task_loss, num_candidates=4, beta=1.0, noise=1.0, max_grad_norm=1.0,
                 mode='mgs', mle_every=2, mle_mix=0.0, seed=0):
        if num_candidates < 1:
            raise ValueError('num_candidates must be >= 1, got %r' % num_candidates)
        if mode not in ('mgs', 'alternate', 'weighted'):
            raise ValueError("mode must be 'mgs', 'alternate' or 'weighted', got %r" % mode)
        if model.optimizer is None:
            raise ValueError('compile the model first: MGS uses its loss (for the MLE gradient) and its optimizer')
        self.model, self.task_loss = model, task_loss
        self.k, self.beta, self.noise, self.max_grad_norm = int(num_candidates), float(beta), float(noise), \
            float(max_grad_norm)
        self.mode, self.mle_every, self.mle_mix = mode, int(mle_every), float(mle_mix)
        self.rng = tf.random.Generator.from_seed(seed)
        self.steps = 0
        self.history = []

    @property
    def variables(self):
        return self.model.trainable_variables

    def mle_gradient(self, x, y, sample_weight=None):
        y = tf.convert_to_tensor(y)
        if sample_weight is not None:
            sample_weight = tf.convert_to_tensor(sample_weight)
        loss_fn = tf.keras.losses.get(self.model.loss)
        if not isinstance(loss_fn, tf.keras.losses.Loss):  # a plain function such as 'mse'
            from tf_keras.src.losses import LossFunctionWrapper
            loss_fn = LossFunctionWrapper(loss_fn)
        with tf.GradientTape() as tape:
            pred = self.model(x, training=True)
            # the compiled loss object itself (not compute_loss, whose metric update fails outside a replica
            # context under tf.distribute), plus regularization / add_loss terms
            loss = loss_fn(y, pred, sample_weight=sample_weight)
            if self.model.losses:
                loss = loss + tf.add_n(self.model.losses)
        grads = tape.gradient(loss, self.variables)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, self.variables)]
        grads, _ = tf.clip_by_global_norm(grads, self.max_grad_norm)
        return grads, float(loss)

    def candidates(self, direction):
        """``(list of K candidate lists, log q per candidate)`` around 0 (odd) and ``direction`` (even); ``log q``
        with unit variance in raw parameter units (the module docstring says why)."""
        sigmas = [self.noise * float(tf.reduce_mean(tf.abs(d))) + 1e-12 for d in direction]
        eps, log_q = [], []
        for i in range(self.k):
            xi = [s * self.rng.normal(d.shape) for s, d in zip(sigmas, direction)]
            e = [a + b for a, b in zip(direction, xi)] if i % 2 == 0 else xi
            to_zero = sum(float(tf.reduce_sum(tf.square(t))) for t in e)
            to_dir = sum(float(tf.reduce_sum(tf.square(t - d))) for t, d in zip(e, direction))
            log_q.append(np.logaddexp(-0.5 * to_zero, -0.5 * to_dir) + np.log(0.5))
            eps.append(e)
        return eps, np.array(log_q)

    def task_losses(self, eps, batch):
        """``d(θ)`` and ``d(θ + ε_i)``; weights are restored bit-exactly after each candidate."""
        saved = [tf.identity(v) for v in self.variables]
        base = float(self.task_loss(self.model, batch))
        values = []
        try:
            for e in eps:
                for v, s, d in zip(self.variables, saved, e):
                    v.assign(s + d)
                values.append(float(self.task_loss(self.model, batch)))
        finally:
            for v, s in zip(self.variables, saved):
                v.assign(s)
        return base, np.array(values)

    def train_step(self, x, y, sample_weight=None):
        """One update; returns a dict with the MLE loss, the task loss before the step and the candidate weights."""
        grads, mle_loss = self.mle_gradient(x, y, sample_weight)
        self.steps += 1
        record = {'mle_loss': mle_loss}
        if self.mode == 'alternate' and self.steps % self.mle_every == 0:
            update = grads
            record['kind'] = 'mle'
        else:
            direction = [-g for g in grads]
            eps, log_q = self.candidates(direction)
            base, values = self.task_losses(eps, (x, y))
            logits = -self.beta * (values - base) - log_q
            w = np.exp(logits - logits.max())
            w /= w.sum()
            delta = [sum(float(w[i]) * eps[i][j] for i in range(self.k)) for j in range(len(grads))]
            if self.mode == 'weighted' and self.mle_mix:
                delta = [(1 - self.mle_mix) * d + self.mle_mix * dr for d, dr in zip(delta, direction)]
            update = [-d for d in delta]
            record.update(kind='mgs', task_loss=base, candidate_losses=values.tolist(), weights=w.tolist())
        update, _ = tf.clip_by_global_norm(update, self.max_grad_norm)
        self.model.optimizer.apply_gradients(zip(update, self.variables))
        self.history.append(record)
        return record

    def fit(self, x, y, epochs=1, batch_size=32, seed=0, callback=None, sample_weight=None):
        """Plain epoch loop over numpy data (x: array or list of arrays)."""
        xs = x if isinstance(x, (list, tuple)) else [x]
        n = len(y)
        if n < batch_size:
            raise ValueError('%d training examples are fewer than one batch of %d: no step would run; lower '
                             'batch_size' % (n, batch_size))
        rng = np.random.RandomState(seed)
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n - batch_size + 1, batch_size):
                idx = order[start:start + batch_size]
                xb = [a[idx] for a in xs]
                sw = None if sample_weight is None else sample_weight[idx]
                record = self.train_step(xb if len(xb) > 1 else xb[0], y[idx], sw)
                if callback:
                    callback(record)
        return self.history
