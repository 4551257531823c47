"""Run as a script by tests/test_registered_classes.py, in a fresh process that imports only ``bert4keras_ext``
(and TensorFlow/numpy): for each saved model of the manifest, load it, evaluate it on its training batch, train a
few more steps on that batch and evaluate again; print one JSON line per model. Also print which of the expected
registered names this process knows."""
import json
import sys

import numpy as np

import bert4keras_ext  # noqa: F401  (the only import of the package: it must register everything)
import tensorflow as tf


def main(manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    known = tf.keras.utils.get_custom_objects()
    print(json.dumps({'registered_missing': [n for n in manifest['registered'] if n not in known]}), flush=True)
    for case in manifest['cases']:
        data = np.load(case['data'])
        x = [data['x%d' % i] for i in range(case['inputs'])]
        x = x if len(x) > 1 else x[0]
        y = data['y']
        row = {'name': case['name']}
        try:
            model = tf.keras.models.load_model(case['path'])
            row['predict'] = np.asarray(model.predict(x, verbose=0), 'float64').ravel()[:50].tolist()
            if case['trains']:
                row['before'] = float(model.evaluate(x, y, batch_size=len(y), verbose=0, return_dict=True)['loss'])
                model.fit(x, y, batch_size=len(y), epochs=case['steps'], verbose=0, shuffle=False)
                row['after'] = float(model.evaluate(x, y, batch_size=len(y), verbose=0, return_dict=True)['loss'])
                row['frozen_unchanged'] = all(
                    np.array_equal(np.load(case['data'])['frozen%d' % i], model.get_layer(name).get_weights()[0])
                    for i, name in enumerate(case.get('frozen', [])))
        except Exception as exc:  # reported, so that the test names the case and the error
            row['error'] = '%s: %s' % (type(exc).__name__, exc)
        print(json.dumps(row), flush=True)


if __name__ == '__main__':
    main(sys.argv[1])
