"""Exports (issue #31): SavedModels that load in a fresh process with TensorFlow alone (neither bert4keras nor
bert4keras_ext imported) and give the Keras model's outputs; weights out to the Hugging Face format."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext import classification as clf
from bert4keras_ext.checkpoints import load_hf_model, load_model
from bert4keras_ext.export import export_classifier, export_decoder, save_hf_model
from bert4keras_ext.regularizers import attach_weissi
from bert4keras_ext.training import FloodingModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOADER = r'''
import json, sys
import numpy as np
import tensorflow as tf
for directory, inputs in json.load(open(sys.argv[1])):
    data = np.load(inputs)
    fn = tf.saved_model.load(directory).signatures['serving_default']
    out = fn(token_ids=tf.constant(data['ids']), segment_ids=tf.constant(data['segs']))
    mods = [m for m in sys.modules if m.startswith(('bert4keras', 'bert4keras_ext'))]
    print(json.dumps({'dir': directory, 'outputs': {k: v.numpy().tolist() for k, v in out.items()}, 'modules': mods,
                      'inputs': {k: v.dtype.name for k, v in fn.structured_input_signature[1].items()}}))
'''


@pytest.fixture(scope='module')
def exported(tiny_dir, tmp_path_factory):
    """The classifier (WEISSI + FloodingModel), the greedy and the beam-3 decoder, exported, then all loaded and
    called in one process that imports TensorFlow only (no PYTHONPATH to this repository)."""
    from bert4keras_ext.decoding import CachedLM, Decoder
    tmp = tmp_path_factory.mktemp('export')
    jobs, expected = [], {}
    model, bert = clf.build_classifier(tiny_dir + '/bert_config.json', tiny_dir + '/bert_model.ckpt', 3,
                                       model_class=FloodingModel, flood_level=0.05)
    attach_weissi(model, 1e-3)
    model.compile('adam', tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.RandomState(0)
    ids = rng.randint(5, 40, size=(4, 7)).astype('int32')
    ids[:, 0], ids[2:, 5:] = 2, 0
    segs = np.zeros_like(ids)
    model.fit([ids, segs], np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    expected['classifier'] = model.predict([ids, segs], verbose=0)
    export_classifier(model, str(tmp / 'classifier' / '1'))
    np.savez(tmp / 'classifier.npz', ids=ids, segs=segs)
    jobs.append((str(tmp / 'classifier' / '1'), str(tmp / 'classifier.npz')))
    unilm, _ = load_model(tiny_dir, application='unilm', with_mlm=True)
    prompts = [[2, 7, 8, 9, 3], [2, 10, 11, 3]]
    end, maxlen = 3, 6
    dec = Decoder(CachedLM(unilm, 'unilm'), end_ids=end, maxlen=maxlen)
    prompt_ids = np.zeros((2, 5), 'int32')
    for r, prompt in enumerate(prompts):
        prompt_ids[r, :len(prompt)] = prompt
    np.savez(tmp / 'prompts.npz', ids=prompt_ids, segs=np.zeros_like(prompt_ids))
    for beam in (1, 3):
        expected['beam%d' % beam] = dec.greedy(prompts) if beam == 1 else dec.beam_search(prompts, beam_size=beam)
        export_decoder(unilm, str(tmp / ('beam%d' % beam)), end_ids=[end], maxlen=maxlen, beam_size=beam)
        jobs.append((str(tmp / ('beam%d' % beam)), str(tmp / 'prompts.npz')))
    json.dump(jobs, open(tmp / 'jobs.json', 'w'))
    (tmp / 'load.py').write_text(LOADER)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    r = subprocess.run([sys.executable, str(tmp / 'load.py'), str(tmp / 'jobs.json')], capture_output=True,
                       text=True, timeout=300, cwd=str(tmp), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{')]
    return {os.path.basename(os.path.dirname(row['dir'])) if row['dir'].endswith('/1') else
            os.path.basename(row['dir']): row for row in rows}, expected


def test_classifier_with_weissi_and_flooding_exports_an_int32_signature(exported):
    rows, expected = exported
    out = rows['classifier']
    assert out['modules'] == []                     # neither bert4keras nor bert4keras_ext was imported
    assert out['inputs'] == {'token_ids': 'int32', 'segment_ids': 'int32'}
    np.testing.assert_allclose(out['outputs']['logits'], expected['classifier'], atol=1e-5)
    np.testing.assert_allclose(out['outputs']['probabilities'], tf.nn.softmax(expected['classifier']).numpy(),
                               atol=1e-5)


@pytest.mark.parametrize('beam', [1, 3])
def test_decoder_loop_exports_and_equals_the_decoder(exported, beam):
    rows, expected = exported
    row = rows['beam%d' % beam]
    assert row['modules'] == []
    out = row['outputs']
    for r, res in enumerate(expected['beam%d' % beam]):
        n = out['lengths'][r]
        assert out['ids'][r][:n] == res.ids
        assert out['scores'][r] == pytest.approx(res.score, abs=1e-4)
        assert bool(out['ended'][r]) == (res.status == 'end')


def test_save_hf_model_round_trips_through_our_importer(tiny_dir, tmp_path):
    model, _ = load_model(tiny_dir, with_mlm=True, with_pool=True, with_nsp=True)
    d = save_hf_model(model, str(tmp_path / 'hf'), vocab=tiny_dir + '/vocab.txt')
    config = json.load(open(os.path.join(d, 'config.json')))
    assert config['architectures'] == ['BertForMaskedLM'] and config['num_hidden_layers'] == 2
    back, report = load_hf_model(d, with_mlm=True, with_pool=True, with_nsp=True)
    assert report.ok and not report.unexpected and not report.missing
    ids = np.array([[2, 5, 6, 7, 3], [2, 9, 3, 0, 0]])
    for a, b in zip(model.predict([ids, np.zeros_like(ids)], verbose=0),
                    back.predict([ids, np.zeros_like(ids)], verbose=0)):
        np.testing.assert_array_equal(a, b)


def test_save_hf_model_loads_in_transformers(tiny_dir, tmp_path):
    """By Hugging Face itself, where transformers and torch are installed (benchmarks/peer)."""
    transformers = pytest.importorskip('transformers')
    torch = pytest.importorskip('torch')
    model, _ = load_model(tiny_dir)
    d = save_hf_model(model, str(tmp_path / 'hf'), vocab=tiny_dir + '/vocab.txt')
    hf = transformers.BertModel.from_pretrained(d, add_pooling_layer=False).eval()
    ids = np.array([[2, 5, 6, 7, 3]])
    with torch.no_grad():
        theirs = hf(input_ids=torch.tensor(ids), token_type_ids=torch.zeros(1, 5, dtype=torch.long)).last_hidden_state
    np.testing.assert_allclose(theirs.numpy(), model.predict([ids, np.zeros_like(ids)], verbose=0), atol=1e-4)


def test_export_cli_writes_each_kind(tiny_dir, tmp_path):
    model, _ = clf.build_classifier(tiny_dir + '/bert_config.json', tiny_dir + '/bert_model.ckpt', 2)
    model.save(str(tmp_path / 'clf.keras'))
    from bert4keras_ext.export.__main__ import main
    main(['classifier', '--model', str(tmp_path / 'clf.keras'), '--output', str(tmp_path / 'sm')])
    main(['hf', '--checkpoint', tiny_dir, '--output', str(tmp_path / 'hf')])
    assert os.path.isfile(tmp_path / 'sm' / 'saved_model.pb')
    assert os.path.isfile(tmp_path / 'hf' / 'model.safetensors')
    with pytest.raises(SystemExit, match='does not exist'):
        main(['classifier', '--model', str(tmp_path / 'missing.keras'), '--output', str(tmp_path / 'x')])
