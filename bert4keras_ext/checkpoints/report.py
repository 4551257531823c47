"""The load report and the error type shared by the checkpoint readers."""
from dataclasses import dataclass, field


class CheckpointError(ValueError):
    """A checkpoint, config or vocabulary that cannot be loaded as asked; the message names the file and the fix."""


# Checkpoint variables that are training state, not model weights: never reported as unexpected.
TRAINING_STATE_SUFFIXES = ('/adam_m', '/adam_v', '/Adam', '/Adam_1', '/Momentum', '/ExponentialMovingAverage')
TRAINING_STATE_NAMES = ('global_step', 'bad_steps', 'good_steps', 'loss_scale')


def is_training_state(name):
    return name in TRAINING_STATE_NAMES or name.endswith(TRAINING_STATE_SUFFIXES)


@dataclass
class LoadReport:
    """What a checkpoint load did, variable by variable (checkpoint names).

    loaded: assigned to the model. missing: the model wants them, the checkpoint lacks them.
    unexpected: in the checkpoint, used by no layer of the model (training state such as ``adam_m`` is skipped).
    mismatched: ``(name, checkpoint_shape, model_shape)`` triples that were not assigned.
    """
    source: str = ''
    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)

    @property
    def ok(self):
        return not (self.missing or self.mismatched)

    def as_dict(self):
        return {
            'source': self.source,
            'loaded': list(self.loaded),
            'missing': list(self.missing),
            'unexpected': list(self.unexpected),
            'mismatched': [[n, list(a), list(b)] for n, a, b in self.mismatched],
        }

    def __str__(self):
        lines = ['load report for %s' % (self.source or '<dict>'),
                 '  loaded:     %d variables' % len(self.loaded),
                 '  missing:    %d %s' % (len(self.missing), _preview(self.missing)),
                 '  unexpected: %d %s' % (len(self.unexpected), _preview(self.unexpected)),
                 '  mismatched: %d %s' % (len(self.mismatched), _preview(
                     ['%s checkpoint%s model%s' % (n, tuple(a), tuple(b)) for n, a, b in self.mismatched]))]
        return '\n'.join(lines)


def _preview(names, n=5):
    if not names:
        return ''
    shown = ', '.join(names[:n])
    return '(%s%s)' % (shown, ', ...' if len(names) > n else '')
