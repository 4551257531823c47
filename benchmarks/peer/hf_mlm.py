"""Runs in the PEER environment (torch + transformers, see requirements.txt beside this file), as a subprocess of
benchmarks/train_speed.py --mlm_steps: masked-LM pretraining steps of Hugging Face ``BertForMaskedLM`` (random
weights of the given shape) with ``torch.optim.AdamW`` on the exact batches our ``PretrainRun`` made (``--batches``:
masked ids, position ids, labels with -100 where nothing is predicted).

Prints one JSON line: {"precision", "steps", "seconds_per_step", "first_step_s", "user_s", "sys_s"}.
"""
import argparse
import contextlib
import json
import resource
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batches', required=True)
    p.add_argument('--config', required=True)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--precision', choices=['float32', 'bfloat16'], default='float32')
    args = p.parse_args()
    import torch
    from transformers import BertConfig, BertForMaskedLM
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(**json.loads(args.config)))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
    data = np.load(args.batches)
    steps = int(data['steps'])
    times = []
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for step in range(steps):
        ids = torch.from_numpy(data['ids_%d' % step].astype('int64'))
        start = time.perf_counter()
        autocast = (torch.autocast('cpu', dtype=torch.bfloat16) if args.precision == 'bfloat16'
                    else contextlib.nullcontext())
        with autocast:
            out = model(input_ids=ids, token_type_ids=torch.zeros_like(ids),
                        position_ids=torch.from_numpy(data['pos_%d' % step].astype('int64')),
                        labels=torch.from_numpy(data['labels_%d' % step].astype('int64')))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        float(out.loss)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({'precision': args.precision, 'steps': steps, 'first_step_s': times[0],
                      'seconds_per_step': float(np.mean(times[2:])), 'user_s': after.ru_utime - usage.ru_utime,
                      'sys_s': after.ru_stime - usage.ru_stime}), flush=True)


if __name__ == '__main__':
    main()
