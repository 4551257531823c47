"""Where the default tiny Chinese BERT lives."""
import os


def default_cache_dir():
    return os.environ.get('BERT4KERAS_EXT_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), 'bert4keras_ext')


def tiny_bert_dir():
    """Where the project's default tiny Chinese BERT lives (``$BERT4KERAS_EXT_CACHE/tiny_bert_zh``)."""
    return os.path.join(default_cache_dir(), 'tiny_bert_zh')


def ensure_tiny_bert(verbose=1):
    """The default checkpoint directory, pretraining it first (once) when absent."""
    from bert4keras_ext.pretraining.run import pretrain
    directory = tiny_bert_dir()
    if not os.path.isfile(os.path.join(directory, 'pretrain_report.json')):
        if verbose:
            print('No pretrained tiny Chinese BERT in %s yet: pretraining it now (one time).' % directory)
        pretrain(directory, verbose=verbose)
    return directory
