"""Article 5 on real span-QA data: train the QA-pair generator on part of the CMRC2018 trial set and evaluate on
the rest (split by paragraph), from the tiny pretrained Chinese BERT (or --config_path/--checkpoint_path/--dict_path).

    python benchmarks/qa_cmrc.py [--steps 2000] [--train_paragraphs 200] [--output_dir outputs/qa_cmrc]

The data stays in ../shared/data/cmrc2018/ (CC BY-SA 4.0, Cui et al. 2019); the split files are written to a
temporary directory.
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, '..', 'shared', 'data', 'cmrc2018', 'cmrc2018_trial.json')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default=DATA)
    p.add_argument('--train_paragraphs', type=int, default=200)
    p.add_argument('--steps', type=int, default=2000)
    p.add_argument('--output_dir', default=os.path.join('outputs', 'qa_cmrc'))
    args, rest = p.parse_known_args()
    if not os.path.isfile(args.data):
        raise SystemExit('CMRC2018 trial set not found at %s' % args.data)
    with open(args.data, encoding='utf-8') as f:
        root = json.load(f)
    paragraphs = [(a, para) for a in root['data'] for para in a['paragraphs']]
    tmp = tempfile.mkdtemp()
    paths = []
    for name, part in (('train', paragraphs[:args.train_paragraphs]), ('valid', paragraphs[args.train_paragraphs:])):
        path = os.path.join(tmp, name + '.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump({'version': 'split', 'data': [{'paragraphs': [para]} for _, para in part]}, f,
                      ensure_ascii=False)
        paths.append(path)
    sys.path.insert(0, ROOT)
    from tasks import qa_generation
    qa_generation.main(['--train_data', paths[0], '--valid_data', paths[1], '--steps', str(args.steps),
                        '--eval_passages', '1000', '--output_dir', args.output_dir, '--max_p_len', '256',
                        '--max_a_len', '24', '--max_q_len', '32', '--batch_size', '8', '--seeds', '1'] + rest)


if __name__ == '__main__':
    main()
