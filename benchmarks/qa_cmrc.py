"""QA-pair generation benchmark (issue #20) on the held-out CMRC2018 passages: the full run of the article-5 task,
written to results/qa_generation (answer-aware question BLEU-4 / ROUGE-L, degenerate and distinct question
shares, span validity, answer lengths, reader EM/F1, round-trip kept share, throughput vs stock bert4keras).

    python benchmarks/qa_cmrc.py [--export bert4keras_ext/assets] [other tasks.qa_generation options]

The data is the CMRC2018 trial set copied in data/cmrc2018 (CC BY-SA 4.0, Cui et al. 2019), every fifth passage
held out (bert4keras_ext.qa.data.cmrc_split).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    sys.path.insert(0, ROOT)
    from tasks import qa_generation
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--output_dir' not in argv:
        argv += ['--output_dir', os.path.join(ROOT, 'results', 'qa_generation')]
    return qa_generation.main(argv)


if __name__ == '__main__':
    main()
