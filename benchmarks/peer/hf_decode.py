"""Runs in the PEER environment (torch + transformers, see requirements.txt beside this file), as a subprocess of
benchmarks/decoding_speed.py: the same shapes through Hugging Face ``generate`` with a KV cache, random weights.

Prints one JSON line per measurement: {"size", "mode", "batch", "ms_per_step", "prefill_ms", "first_call_s"}.
"""
import argparse
import json
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--sizes', nargs='+', default=['tiny', 'base'])
    p.add_argument('--modes', nargs='+', default=['greedy', 'beam4'])
    p.add_argument('--batches', type=int, nargs='+', default=[1, 16])
    p.add_argument('--vocab', type=int, default=21128)
    p.add_argument('--src', type=int, default=128)
    p.add_argument('--gen', type=int, default=32)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--repeats', type=int, default=2)
    args = p.parse_args()
    import torch
    from transformers import BertConfig, BertLMHeadModel
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = {'tiny': dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
             'base': dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)}
    for size in args.sizes:
        config = BertConfig(vocab_size=args.vocab, max_position_embeddings=512, is_decoder=True, **sizes[size])
        model = BertLMHeadModel(config).eval()
        for batch in args.batches:
            ids = torch.randint(1000, args.vocab, (batch, args.src))
            with torch.inference_mode():
                start = time.perf_counter()
                model(ids, use_cache=True)
                first = time.perf_counter() - start
                prefill = min(_timed(lambda: model(ids, use_cache=True)) for _ in range(args.repeats))
                for mode in args.modes:
                    beams = 4 if mode == 'beam4' else 1

                    def generate():
                        model.generate(ids, max_new_tokens=args.gen, min_new_tokens=args.gen, num_beams=beams,
                                       do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)

                    generate()  # warm-up
                    total = min(_timed(generate) for _ in range(args.repeats))
                    print(json.dumps({'size': size, 'mode': mode, 'batch': batch,
                                      'ms_per_step': 1000 * total / args.gen, 'prefill_ms': 1000 * prefill,
                                      'first_call_s': first}), flush=True)


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == '__main__':
    main()
