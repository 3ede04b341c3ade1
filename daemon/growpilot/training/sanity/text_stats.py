"""Statistics of plain text: words, sentences, the most common terms and a readability score."""

from __future__ import annotations

import heapq
import re
import string
from collections import Counter
from dataclasses import dataclass, field

WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
STOPWORDS = frozenset("a an and are as at be by for from has have in is it its of on or that the to was were "
                      "will with this these those not but".split())


def words(text: str) -> list[str]:
    return [w.lower().strip("'-") for w in WORD.findall(text)]


def sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    return [s for s in SENTENCE_END.split(text) if s]


def syllables(word: str) -> int:
    word = word.lower()
    vowels = "aeiouy"
    count, previous = 0, False
    for ch in word:
        is_vowel = ch in vowels
        if is_vowel and not previous:
            count += 1
        previous = is_vowel
    if word.endswith("e") and count > 1:
        count -= 1
    return max(count, 1)


@dataclass
class TextReport:
    characters: int
    words: int
    sentences: int
    unique_words: int
    top_terms: list[tuple[str, int]] = field(default_factory=list)
    reading_ease: float = 0.0

    def summary(self) -> str:
        terms = ", ".join(f"{term} ({n})" for term, n in self.top_terms)
        return (f"{self.words} words in {self.sentences} sentences, {self.unique_words} distinct; "
                f"reading ease {self.reading_ease:.1f}; top terms: {terms or 'none'}")


def top_terms(tokens: list[str], k: int = 5) -> list[tuple[str, int]]:
    counts = Counter(t for t in tokens if t not in STOPWORDS and len(t) > 2)
    return heapq.nlargest(k, counts.items(), key=lambda item: (item[1], item[0]))


def reading_ease(tokens: list[str], sentence_count: int) -> float:
    """Flesch reading ease: higher is easier; about 60-70 is plain English."""
    if not tokens or not sentence_count:
        return 0.0
    per_sentence = len(tokens) / sentence_count
    per_word = sum(syllables(t) for t in tokens) / len(tokens)
    return 206.835 - 1.015 * per_sentence - 84.6 * per_word


def analyse(text: str, k: int = 5) -> TextReport:
    tokens = words(text)
    parts = sentences(text)
    return TextReport(characters=len(text), words=len(tokens), sentences=len(parts), unique_words=len(set(tokens)),
                      top_terms=top_terms(tokens, k), reading_ease=reading_ease(tokens, len(parts)))


def strip_punctuation(text: str) -> str:
    return text.translate(str.maketrans("", "", string.punctuation))


def wrap(text: str, width: int = 72) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def ngrams(tokens: list[str], n: int = 2) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
