"""What a benchmark figure was measured on: the CPU model and the vector/matrix extensions that decide which
TensorFlow and torch kernels run (AVX2 only, AVX-512, AVX-512 bfloat16, AMX), printed beside every figure.

    from machine import cpu     # benchmarks run as scripts: benchmarks/ is on sys.path
    print('CPU: %s' % cpu())    # e.g. 'Intel(R) Xeon(R) Processor (avx2 avx512f avx512_bf16 amx_bf16; 2 CPUs)'
"""
import os
import subprocess

FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')


def cpu():
    """``'<model name> (<flags of FLAGS present>; <n> CPUs)'`` from ``lscpu`` ('?' where it cannot tell)."""
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return '? (%d CPUs)' % os.cpu_count()
    model = [l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')]
    flags = ([l.split(':', 1)[1].split() for l in out.splitlines() if l.startswith('Flags')] or [[]])[0]
    shown = [f for f in FLAGS if f in flags]
    return '%s (%s; %d CPUs)' % (model[0] if model else '?', ' '.join(shown) or 'no AVX2', os.cpu_count())
