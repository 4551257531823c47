"""Does Hugging Face itself read what `save_hf_model` writes? (issue #31) Exports the shipped Chinese BERT (with its
MLM head) to a Hugging Face directory, computes our hidden states and MLM log-probs on a few Chinese sentences, then
loads the directory with `transformers.BertModel` / `BertForMaskedLM` in the peer environment (torch, no
TensorFlow) and prints the largest differences.

    python -m venv /tmp/peer && /tmp/peer/bin/pip install -r benchmarks/peer/requirements.txt
    python benchmarks/hf_export_check.py --peer_python /tmp/peer/bin/python [--output results/hf_export/summary.md]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PEER = r'''
import json, sys
import numpy as np
import torch, transformers
d, data = sys.argv[1], np.load(sys.argv[2])
ids = torch.tensor(data['ids'], dtype=torch.long)
mask = (ids != 0).long()
seg = torch.tensor(data['segs'], dtype=torch.long)
with torch.no_grad():
    enc = transformers.BertModel.from_pretrained(d, add_pooling_layer=False).eval()
    hidden = enc(input_ids=ids, token_type_ids=seg, attention_mask=mask).last_hidden_state.numpy()
    mlm = transformers.BertForMaskedLM.from_pretrained(d).eval()
    logp = torch.log_softmax(mlm(input_ids=ids, token_type_ids=seg, attention_mask=mask).logits, -1).numpy()
real = data['ids'] != 0
print(json.dumps({'transformers': transformers.__version__, 'torch': torch.__version__,
                  'hidden_max_abs_diff': float(np.abs(hidden - data['hidden'])[real].max()),
                  'mlm_logp_max_abs_diff': float(np.abs(logp - data['logp'])[real].max()),
                  'mlm_top1_agreement': float((logp.argmax(-1) == data['logp'].argmax(-1))[real].mean())}))
'''

TEXTS = ['故宫位于北京中轴线的中心。', '这家酒店的服务很好，下次还来。', '天问一号于2020年7月23日在文昌发射升空。']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--peer_python', required=True, help='python of an environment with torch and transformers')
    p.add_argument('--output', default=None, help='a markdown file for the result')
    args = p.parse_args(argv)
    import bert4keras_ext  # noqa: F401
    from bert4keras.snippets import sequence_padding
    from bert4keras.tokenizers import Tokenizer
    from bert4keras_ext.checkpoints import load_model
    from bert4keras_ext.export import save_hf_model
    from bert4keras_ext.pretraining import shipped_bert_dir
    ckpt = shipped_bert_dir()
    tmp = tempfile.mkdtemp()
    encoder, _ = load_model(ckpt)
    mlm, _ = load_model(ckpt, with_mlm=True)
    save_hf_model(mlm, os.path.join(tmp, 'hf'), vocab=os.path.join(ckpt, 'vocab.txt'))
    tok = Tokenizer(os.path.join(ckpt, 'vocab.txt'), do_lower_case=True)
    pairs = [tok.encode(t) for t in TEXTS]
    ids = sequence_padding([a for a, _ in pairs]).astype('int64')
    segs = sequence_padding([b for _, b in pairs]).astype('int64')
    hidden = encoder.predict([ids, segs], verbose=0)
    logp = np.log(np.maximum(mlm.predict([ids, segs], verbose=0), 1e-30))
    np.savez(os.path.join(tmp, 'data.npz'), ids=ids, segs=segs, hidden=hidden, logp=logp)
    script = os.path.join(tmp, 'peer.py')
    with open(script, 'w') as f:
        f.write(PEER)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    r = subprocess.run([args.peer_python, script, os.path.join(tmp, 'hf'), os.path.join(tmp, 'data.npz')],
                       capture_output=True, text=True, env=env, timeout=600)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps(out))
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, 'w', encoding='utf-8') as f:
            f.write('## Hugging Face reads `save_hf_model` output (`benchmarks/hf_export_check.py`)\n\n'
                    'The shipped BERT exported with `save_hf_model`, loaded by transformers %s (torch %s): largest '
                    'difference of the last hidden states %.2e, of the MLM log-probs %.2e over the real tokens of %d '
                    'sentences; top-1 MLM agreement %.3f.\n' % (out['transformers'], out['torch'],
                                                               out['hidden_max_abs_diff'],
                                                               out['mlm_logp_max_abs_diff'], len(TEXTS),
                                                               out['mlm_top1_agreement']))
    return out


if __name__ == '__main__':
    main()
