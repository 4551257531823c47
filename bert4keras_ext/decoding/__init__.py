"""Decoding: KV-cached bert4keras LM/UniLM forward, batched greedy / beam / sampling, logits processors."""
from bert4keras_ext.decoding.automaton import SuffixAutomaton  # noqa: F401
from bert4keras_ext.decoding.cache import CachedLM  # noqa: F401
from bert4keras_ext.decoding.uncached import UncachedLM  # noqa: F401
from bert4keras_ext.decoding.decoder import Decoder, Result  # noqa: F401
from bert4keras_ext.decoding.processors import (MinLength, NoRepeatNGram, PrefixAllowedTokens,  # noqa: F401
                                                RepetitionPenalty, SpanConstraint, Temperature, TopK, TopP, apply,
                                                attach_to_autoregressive_decoder)
