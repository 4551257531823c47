"""Decoding: KV-cached bert4keras LM/UniLM forward; greedy, beam search and sampling in one compiled loop with
logits processors as tensor ops."""
from bert4keras_ext.decoding.automaton import SuffixAutomaton  # noqa: F401
from bert4keras_ext.decoding.cache import CachedLM  # noqa: F401
from bert4keras_ext.decoding.backend import LMBackend  # noqa: F401
from bert4keras_ext.decoding.uncached import UncachedLM  # noqa: F401
from bert4keras_ext.decoding.recurrent import RecurrentLM  # noqa: F401
from bert4keras_ext.decoding.decoder import Decoder, DecodeState, Result  # noqa: F401
from bert4keras_ext.decoding.processors import (BanNGrams, EndOnlyAfter, LogitsProcessor,  # noqa: F401
                                              MinLength, NoRepeatNGram, PrefixAllowedTokens, PythonProcessor,
                                              RepetitionPenalty, RequireBefore, SpanConstraint, Temperature, TopK,
                                              TopP, apply, attach_to_autoregressive_decoder, token_mask)
