"""Runs in the PEER environment (torch + transformers, see requirements.txt beside this file), as a subprocess of
benchmarks/train_speed.py: fine-tunes Hugging Face ``BertForSequenceClassification`` (random weights of the given
shape; speed does not depend on their values) with ``torch.optim.AdamW`` and a linear warm-up/decay schedule on the
exact batches the benchmark wrote (``--batches``, an .npz of per-epoch padded batches).

Prints one JSON line per epoch: {"epoch", "seconds", "examples", "user_s", "sys_s", "loss"}.
"""
import argparse
import json
import resource
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batches', required=True, help='npz written by benchmarks/train_speed.py')
    p.add_argument('--config', required=True, help='JSON: vocab_size, hidden_size, num_hidden_layers, ...')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--learning_rate', type=float, default=1e-4)
    args = p.parse_args()
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = json.loads(args.config)
    model = BertForSequenceClassification(BertConfig(num_labels=2, **cfg))
    model.train()
    data = np.load(args.batches)
    epochs = int(data['epochs'])
    per_epoch = int(data['per_epoch'])
    total = epochs * per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    warmup = max(1, int(0.1 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    for epoch in range(epochs):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start, n, last = time.perf_counter(), 0, 0.0
        for b in range(per_epoch):
            ids = torch.from_numpy(data['ids_%d_%d' % (epoch, b)].astype('int64'))
            y = torch.from_numpy(data['y_%d_%d' % (epoch, b)].astype('int64'))
            out = model(input_ids=ids, attention_mask=(ids != 0).long(), token_type_ids=torch.zeros_like(ids),
                        labels=y)
            out.loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            n += len(y)
            last = float(out.loss)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({'epoch': epoch + 1, 'seconds': seconds, 'examples': n, 'loss': last,
                          'user_s': after.ru_utime - usage.ru_utime, 'sys_s': after.ru_stime - usage.ru_stime}),
              flush=True)


if __name__ == '__main__':
    main()
