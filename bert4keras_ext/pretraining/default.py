"""Where the default Chinese BERT lives: shipped with the package, or (until it is) pretrained once into a cache."""
import os

SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'assets', 'tiny_bert_zh')
FILES = ('bert_config.json', 'bert_model.ckpt.index', 'bert_model.ckpt.data-00000-of-00001', 'vocab.txt')


def default_cache_dir():
    return os.environ.get('BERT4KERAS_EXT_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), 'bert4keras_ext')


def shipped_bert_dir():
    """The model shipped as package data (``bert4keras_ext/assets/tiny_bert_zh``), or None when absent."""
    return SHIPPED if all(os.path.isfile(os.path.join(SHIPPED, f)) for f in FILES) else None


def tiny_bert_dir():
    """Where a locally pretrained default lives (``$BERT4KERAS_EXT_CACHE/tiny_bert_zh``)."""
    return os.path.join(default_cache_dir(), 'tiny_bert_zh')


def ensure_tiny_bert(verbose=1):
    """The locally pretrained checkpoint directory, pretraining it first (once) when absent."""
    from bert4keras_ext.pretraining.run import pretrain
    directory = tiny_bert_dir()
    if not os.path.isfile(os.path.join(directory, 'pretrain_report.json')):
        if verbose:
            print('No pretrained tiny Chinese BERT in %s yet: pretraining it now (one time).' % directory)
        pretrain(directory, verbose=verbose)
    return directory


def default_bert_dir(verbose=1):
    """The default checkpoint: the shipped model when the package has it, else :func:`ensure_tiny_bert`."""
    return shipped_bert_dir() or ensure_tiny_bert(verbose)
