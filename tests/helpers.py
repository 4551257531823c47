"""Small helpers shared by the tests."""
import numpy as np


def token_batch(rng, batch=2, length=7, vocab=40, target=3):
    """Token ids (never 0 = padding) and segment ids with ``target`` trailing target positions."""
    ids = rng.randint(5, vocab, size=(batch, length))
    ids[:, 0] = 2
    seg = np.zeros_like(ids)
    if target:
        seg[:, -target:] = 1
    return ids, seg


def docstring_example(obj, namespace):
    """Run the code block after ``Example::`` in ``obj``'s docstring in ``namespace`` (updated in place), so that a
    test exercises exactly what the documentation shows. Returns the namespace."""
    import textwrap
    doc = obj.__doc__ or ''
    if 'Example::' not in doc:
        raise AssertionError('%s has no Example:: block' % obj.__name__)
    block = doc.split('Example::', 1)[1]
    lines = []
    for line in block.split('\n')[1:]:
        if line.strip() and not line.startswith(' ' * 8):
            break  # the block ends where the indentation does
        lines.append(line)
    exec(textwrap.dedent('\n'.join(lines)), namespace)
    return namespace
