"""Building bert4keras models from a Google-format config dict (no weights): the one place the package calls
``build_transformer_model``. Loading checkpoints is :mod:`bert4keras_ext.checkpoints`."""


def build_model(config, model='bert', application='encoder', **kwargs):
    """A bert4keras builder (``Transformer``) from a config dict, without loading weights.

    Args:
        config: Google-format names (``hidden_size``, ``max_position_embeddings``, ...), as ``bert_config.json``;
            bert4keras maps them itself.
        model: the bert4keras architecture (``'bert'``, ``'roberta'``, ``'albert'``, ``'nezha'``, ...).
        application: ``'encoder'``, ``'lm'`` or ``'unilm'``.
        **kwargs: other ``build_transformer_model`` arguments (``with_mlm``, ``prefix``, ...), winning over
            ``config``.

    Example::

        transformer = build_model(read_config('bert_config.json'), application='unilm', with_mlm=True)
        transformer.model.summary()
    """
    from bert4keras.models import build_transformer_model
    params = dict(config)
    params.update(kwargs)
    return build_transformer_model(model=model, application=application, return_keras_model=False, **params)
