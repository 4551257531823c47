"""Masked-LM pretraining of a small Chinese BERT from scratch, and the project's shipped default model.

* :mod:`~bert4keras_ext.pretraining.data` — normalisation, character vocabulary, word edges, packing, masking;
* :mod:`~bert4keras_ext.pretraining.model` — the MLM training model and the learning-rate schedule;
* :mod:`~bert4keras_ext.pretraining.run` — :class:`PretrainRun`, a resumable run with checkpoints and a log.

``python -m tasks.pretrain_tiny_bert`` is the command that (re)makes the default model.
"""
from bert4keras_ext.pretraining.data import (build_char_vocab, gb2312_characters, mask_tokens, max_match,
                                             pack_sequences, to_halfwidth, word_start_flags)
from bert4keras_ext.pretraining.model import DEFAULT_CONFIG, GatherPositions, build_mlm_model, learning_rate_at
from bert4keras_ext.pretraining.run import (PretrainRun, corpus_documents, heldout_split, plot_log, pretrain,
                                            resolve_settings)
from bert4keras_ext.pretraining.default import (default_bert_dir, default_cache_dir, ensure_tiny_bert,  # noqa: F401
                                                shipped_bert_dir, tiny_bert_dir)
