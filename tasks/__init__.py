"""Experiment code: one task script per article, the default BERT's pretraining, run_all (the main job), and the
helpers they share (``experiment`` options/report, ``stats`` intervals and verdicts, stock ``baselines``).

Nothing in the library (``bert4keras_ext``) imports from here.
"""
