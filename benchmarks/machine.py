"""What a benchmark figure was measured on: the CPU model and the vector/matrix extensions that decide which
TensorFlow and torch kernels run (AVX2 only, AVX-512, AVX-512 bfloat16, AMX), printed beside every figure.

    from machine import cpu     # benchmarks run as scripts: benchmarks/ is on sys.path
    print('CPU: %s' % cpu())    # e.g. 'Intel(R) Xeon(R) Processor (avx2 avx512f avx512_bf16 amx_bf16; 2 CPUs)'

:func:`limit_isa` makes an AVX-512 machine run the kernels an AVX2-only machine runs (oneDNN, XLA's CPU code
generation, MKL and torch's ATen dispatch all choose their kernels at run time), for ours and the peer alike; the
hardware stays what it is (caches, memory, clock), so such figures locate where the AVX2 path loses, they do not
replace a measurement on an AVX2-only machine.
"""
import os
import subprocess

FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')
ISA_ENV = {'avx2': {'ONEDNN_MAX_CPU_ISA': 'AVX2', 'DNNL_MAX_CPU_ISA': 'AVX2', 'MKL_ENABLE_INSTRUCTIONS': 'AVX2',
                    'ATEN_CPU_CAPABILITY': 'avx2', 'XLA_CPU_ISA': 'AVX2'}}


def limit_isa(isa):
    """Limit the run-time kernel choice of this process and of the processes it starts (the peer) to ``isa``
    ('avx2'); call it before TensorFlow or torch is imported. Returns the environment variables it set.

    Example:
        >>> limit_isa('avx2')['ONEDNN_MAX_CPU_ISA']
        'AVX2'
    """
    env = dict(ISA_ENV[isa])
    xla = env.pop('XLA_CPU_ISA')
    flags = os.environ.get('XLA_FLAGS', '')
    env['XLA_FLAGS'] = (flags + ' --xla_cpu_max_isa=%s' % xla).strip()
    os.environ.update(env)
    return env


def cpu():
    """``'<model name> (<flags of FLAGS present>; <n> CPUs)'`` from ``lscpu`` ('?' where it cannot tell)."""
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return '? (%d CPUs)' % os.cpu_count()
    model = [l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')]
    flags = ([l.split(':', 1)[1].split() for l in out.splitlines() if l.startswith('Flags')] or [[]])[0]
    shown = [f for f in FLAGS if f in flags]
    limited = os.environ.get('ONEDNN_MAX_CPU_ISA')
    return '%s (%s; %d CPUs)%s' % (model[0] if model else '?', ' '.join(shown) or 'no AVX2', os.cpu_count(),
                                   ', kernels limited to %s (oneDNN, XLA, MKL, ATen)' % limited if limited else '')
