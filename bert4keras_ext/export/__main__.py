"""``python -m bert4keras_ext.export {classifier,decoder,hf}``: write a SavedModel for serving stacks, or a
Hugging Face directory.

classifier: a saved Keras classifier (.keras) -> SavedModel, signature serving_default(token_ids, segment_ids)
    -> {logits, probabilities} (int32 inputs).
decoder: a Google-format UniLM/LM checkpoint directory (e.g. the QA generator) -> SavedModel of the compiled
    greedy (--beam_size 1) or beam-search loop, serving_default(token_ids, segment_ids) -> {ids, lengths, scores,
    ended}.
hf: a Google-format checkpoint directory -> config.json + model.safetensors + vocab.txt for transformers.
"""
import argparse
import os
import sys


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m bert4keras_ext.export', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    c = sub.add_parser('classifier', help='a .keras classifier -> SavedModel')
    c.add_argument('--model', required=True, help='the .keras file')
    c.add_argument('--output', required=True, help='SavedModel directory (TF Serving: <model>/<version>)')
    d = sub.add_parser('decoder', help='a UniLM/LM checkpoint -> SavedModel of its decoding loop')
    d.add_argument('--checkpoint', default=None, help='Google-format directory (default: the shipped QA generator)')
    d.add_argument('--output', required=True)
    d.add_argument('--application', default='unilm', choices=['unilm', 'lm'])
    d.add_argument('--maxlen', type=int, default=32, help='tokens generated at most (default: 32)')
    d.add_argument('--beam_size', type=int, default=1, help='1: greedy; k: beam search (default: 1)')
    h = sub.add_parser('hf', help='a Google-format checkpoint -> Hugging Face directory')
    h.add_argument('--checkpoint', required=True)
    h.add_argument('--output', required=True)
    args = p.parse_args(argv)

    import bert4keras_ext  # noqa: F401
    import tensorflow as tf
    from bert4keras_ext.export import export_classifier, export_decoder, save_hf_model
    from bert4keras_ext.checkpoints import load_model
    if args.command == 'classifier':
        if not os.path.isfile(args.model):
            raise SystemExit('error: %s does not exist' % args.model)
        export_classifier(tf.keras.models.load_model(args.model), args.output)
    elif args.command == 'decoder':
        from bert4keras.tokenizers import Tokenizer
        directory = args.checkpoint
        if directory is None:
            from bert4keras_ext.qa.generator import shipped_generator_dir
            directory = shipped_generator_dir()
        model, _ = load_model(directory, application=args.application, with_mlm=True)
        end = Tokenizer(os.path.join(directory, 'vocab.txt'), do_lower_case=True)._token_end_id
        export_decoder(model, args.output, end_ids=[end], maxlen=args.maxlen, beam_size=args.beam_size,
                       application=args.application)
    else:
        from bert4keras_ext.checkpoints.google import read_config
        model, _ = load_model(args.checkpoint, with_mlm=True, with_pool=True, allow_missing=True)
        save_hf_model(model, args.output, vocab=os.path.join(args.checkpoint, 'vocab.txt'),
                      config=read_config(os.path.join(args.checkpoint, 'bert_config.json')))
    print('wrote %s' % args.output, file=sys.stderr)


if __name__ == '__main__':
    main()
