"""Merging stored templates into patterns: one message shape, one pattern.

The ingest-time template (``message_template``) masks what is variable by its form
(numbers, ids, paths, hosts). A slot filled by plain words (``tool web_search failed``,
``tool send_email failed``) looks constant in any single message; only a set of
messages shows that it varies. So a pattern query groups by the stored template (an
exact ``GROUP BY``) and then merges, over the templates of its answer, those that are one
shape with one slot varying:

* templates with the same number of tokens that differ at exactly one position (not the
  first, which usually names the event) join when that position takes at least
  ``MIN_VALUES`` different words across the templates that agree everywhere else, or one
  of them already holds ``<*>`` there (the miner saw a variable value in that slot);
  brackets, quotes and trailing punctuation around the word must agree and are kept;
* a choice between two words ("opened" / "closed") is left alone, since it usually names a
  different code path, and so are all-capitals words (``GET``/``POST``, ``HIT``/``MISS``):
  by convention those are constants;
* a template that is an instance of a more general one (equal except where the general
  one holds ``<*>``, same first word) joins it: a combination of slot values seen once
  still belongs to its shape;
* joining is transitive and rounds repeat until nothing changes, so a shape with several
  word slots ends as one pattern, whose text has ``<*>`` wherever its members differ.

The result depends only on the *set* of templates, not on their order or counts, so the
same window always gives the same patterns (docs/patterns.md has the measurements).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from telequery.patterns.miner import CLOSERS, OPENERS, WILDCARD, normalise

MIN_VALUES = 3
# Templates of one length and first word compared as covers of each template.
MAX_CANDIDATES = 64


def merge_templates(templates: Iterable[str]) -> dict[str, str]:
    """Map every template to the pattern it belongs to (itself when nothing merges).

    Rounds repeat until nothing changes: a shape with two word slots whose values never
    repeat together ("call <id> (tool)") first merges on one slot, then its patterns
    merge on the other."""
    mapping = {t: t for t in templates}
    while True:
        step = _merge_round(set(mapping.values()))
        if all(k == v for k, v in step.items()):
            break
        mapping = {t: step[p] for t, p in mapping.items()}
    # Wildcard runs fold only now, so the rounds compare templates token by token;
    # patterns that fold to the same text are one pattern.
    return {t: normalise(p) if p != t else t for t, p in mapping.items()}


def _wrapped(tok: str) -> tuple[str, str, str]:
    """(lead, word, trail) of a token: its enclosing brackets/quotes and punctuation."""
    inner = tok.lstrip(OPENERS)
    word = inner.rstrip(CLOSERS)
    return tok[: len(tok) - len(inner)], word, inner[len(word):]


def _merge_round(templates: set[str]) -> dict[str, str]:
    """One round: templates one word slot apart, or covered by a more general one,
    joined transitively."""
    uniq = sorted(templates)
    toks = [t.split(" ") for t in uniq]
    parent = list(range(len(uniq)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    _join_slots(toks, union)
    _join_instances(toks, union)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(uniq)):
        groups[find(i)].append(i)
    out: dict[str, str] = {}
    for members in groups.values():
        pattern = uniq[members[0]] if len(members) == 1 else _pattern([toks[i] for i in members])
        for i in members:
            out[uniq[i]] = pattern
    return out


def _join_slots(toks: list[list[str]], union: Callable[[int, int], None]) -> None:
    """Join templates that agree everywhere but one varying word slot."""
    slots: dict[tuple[int, int, str, str, str], list[int]] = defaultdict(list)
    for i, words in enumerate(toks):
        for pos in range(1, len(words)):
            lead, _, trail = _wrapped(words[pos])
            rest = " ".join(words[:pos]) + "\x00" + " ".join(words[pos + 1:])
            slots[(len(words), pos, rest, lead, trail)].append(i)
    for (_, pos, _, _, _), members in slots.items():
        if len(members) < 2:
            continue
        values = {_wrapped(toks[i][pos])[1] for i in members}
        if WILDCARD not in values and (
                len(values) < MIN_VALUES or any(v.isupper() for v in values)):
            continue
        for i in members[1:]:
            union(members[0], i)


def _join_instances(toks: list[list[str]], union: Callable[[int, int], None]) -> None:
    """Join every template to the most general template that covers it: equal to it
    except where the general one holds a wildcard (with the same brackets around it)."""
    general: dict[tuple[int, str], list[int]] = defaultdict(list)
    for i, words in enumerate(toks):
        if any(WILDCARD in w for w in words[1:]):
            general[(len(words), words[0])].append(i)
    shapes: dict[int, tuple[list[tuple[int, str]], list[tuple[int, str, str]]]] = {}
    for found in general.values():  # bounded work: the most general candidates
        found.sort(key=lambda j: (-toks[j].count(WILDCARD), j))
        del found[MAX_CANDIDATES:]
        for j in found:
            fixed, holes = [], []
            for pos, w in enumerate(toks[j]):
                lead, word, trail = _wrapped(w)
                if word == WILDCARD:
                    holes.append((pos, lead, trail))
                else:
                    fixed.append((pos, w))
            shapes[j] = fixed, holes
    for i, words in enumerate(toks):
        for j in general.get((len(words), words[0]), ()):  # most general first
            fixed, holes = shapes[j]
            if j != i and all(words[p] == w for p, w in fixed) and all(
                    words[p].startswith(lead) and words[p].endswith(trail)
                    for p, lead, trail in holes):
                union(i, j)
                break


def _pattern(members: list[list[str]]) -> str:
    """The text of a merged group: ``<*>`` where its members differ (keeping brackets
    they share)."""
    words = []
    for column in zip(*members, strict=True):
        if len(set(column)) == 1:
            words.append(column[0])
            continue
        lead, _, trail = _wrapped(column[0])
        same = all(_wrapped(c)[0] == lead and _wrapped(c)[2] == trail for c in column)
        words.append(lead + WILDCARD + trail if same else WILDCARD)
    return " ".join(words)
