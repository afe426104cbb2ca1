"""The violation lexicon and the engine that matches it: plain library, no Scrapy import.

- :mod:`monitor.lexicon.normalize` folds evasions (script, width, variants, fillers) with an
  offset map back to the original text;
- :mod:`monitor.lexicon.loader` reads keywords/*.yaml into a :class:`Lexicon`;
- :mod:`monitor.lexicon.matcher` finds candidates with Aho-Corasick and keeps those on jieba
  word boundaries that no exclusion or negation cue cancels.
"""

from monitor.lexicon.loader import Lexicon, load_lexicon
from monitor.lexicon.matcher import Hit, Matcher, MatchResult, matcher_for

__all__ = ["Hit", "Lexicon", "MatchResult", "Matcher", "load_lexicon", "matcher_for"]
