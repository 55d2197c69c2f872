"""Scoring helpers for template miners against labelled logs.

Kept in the library (not only in the benchmark) so that any labelled sample
can be scored the same way the loghub benchmark is.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path


def grouping_accuracy(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """Grouping accuracy (GA) as defined by the loghub benchmark.

    A line is correct when the set of lines sharing its predicted group is
    exactly the set of lines sharing its ground-truth label; GA is the
    fraction of correct lines. Labels are only compared for equality, so
    template strings, fingerprints or ids all work.
    """
    if len(predicted) != len(truth):
        raise ValueError(f"length mismatch: {len(predicted)} predicted, {len(truth)} truth")
    if not truth:
        return 1.0
    pred_groups: dict[Hashable, list[int]] = defaultdict(list)
    truth_sizes: dict[Hashable, int] = defaultdict(int)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        pred_groups[p].append(i)
        truth_sizes[t] += 1
    correct = 0
    for members in pred_groups.values():
        label = truth[members[0]]
        # Same size and every member has the same label <=> equal sets.
        if truth_sizes[label] == len(members) and all(truth[i] == label for i in members):
            correct += len(members)
    return correct / len(truth)


def load_structured_csv(path: Path) -> tuple[list[str], list[str]]:
    """(Content, EventId) columns of a loghub ``*_structured.csv`` file."""
    contents: list[str] = []
    events: list[str] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            contents.append(row["Content"])
            events.append(row["EventId"])
    return contents, events
