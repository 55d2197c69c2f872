"""Tests for the stateless log pattern miner and its loghub-2k benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telequery.patterns import (
    WILDCARD,
    clear_caches,
    fingerprint,
    grouping_accuracy,
    message_template,
    templates,
)

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub-2k"

if str(REPO) not in sys.path:  # `bench` is a top-level package of the repo
    sys.path.insert(0, str(REPO))

from bench import agentlogs  # noqa: E402
from bench.patterns import DRAIN_GA, score_all, update_markdown  # noqa: E402

from telequery.patterns.evaluate import load_structured_csv  # noqa: E402
from telequery.patterns.merge import merge_templates  # noqa: E402

SAMPLE = [
    "PacketResponder 1 for block blk_38865049064139660 terminating",
    "Failed password for root from 5.36.59.76 port 42393 ssh2",
    "connection from 24.54.76.216 (24-54-76-216.bflony.adelphia.net) at Fri Jun 17 07:07:00 2005",
    'acquire lock=166121161, flags=0x1, tag="RILJ_ACK_WL", name=com.android.phone, ws=null',
    "proxy.cse.cuhk.edu.hk:5070 close, 1383 bytes (1.35 KB) sent, 392 bytes received, "
    "lifetime <1 sec",
    "",
    "   ",
]


# --- masking of the variable classes ---------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("retry 3 of 5", "retry <*> of <*>"),  # integers
        ("took 12.5 ms", "took <*>"),  # decimal + time unit
        ("Took 0.25 seconds to build instance.", "Took <*> to build instance."),
        ("wrote 4.2 KB to disk", "wrote <*> to disk"),  # size unit
        ("value 0xdeadbeef written", "value <*> written"),  # hex
        ("commit 3f9a2c1d77 merged", "commit <*> merged"),  # hex id with digits
        ("Connection from 10.0.0.1 closed", "Connection from <*> closed"),  # IPv4
        ("Connection from 10.0.0.1:5432 closed", "Connection from <*> closed"),  # ip:port
        ("peer fe80::1ff:fe23:4567:890a up", "peer <*> up"),  # IPv6
        ("mac 00:1A:2B:3C:4D:5E seen", "mac <*> seen"),  # MAC
        (
            "request 550e8400-e29b-41d4-a716-446655440000 failed",
            "request <*> failed",
        ),  # UUID
        ("open /var/log/app.log failed", "open <*> failed"),  # unix path
        ("loaded C:\\Windows\\system32\\x.dll", "loaded <*>"),  # windows path
        ("GET /api/v1/users?id=7 HTTP/1.1", "GET <*>"),  # URL path + protocol
        ("resolved db.internal.example.com ok", "resolved <*> ok"),  # host name
        ("user=bob action=login ok=true", "user=<*> action=<*> ok=true"),  # key=value
        ('tag="View Lock" done', "tag=<*> done"),  # quoted value
        ("cancelNotification,index:0", "cancelNotification,index:<*>"),  # key:value
        ("at Tue Jul 26 05:47:42 2005 ok", "at <*> ok"),  # calendar date
        ("at Fri Dec 10 19:02:14 EST 2004 ok", "at <*> ok"),  # date with zone
        ("2024-01-02T03:04:05.123Z worker up", "<*> worker up"),  # ISO timestamp
        ("Invalid user admin from 1.2.3.4", "Invalid user <*> from <*>"),  # user names
        ("Failed password for root from 1.2.3.4", "Failed password for <*> from <*>"),
        ("node node-129 up", "node <*> up"),
        ("Sent 1234 bytes (1.2 KB) to peer", "Sent <*> bytes to peer"),  # restated size
        ("list 1 2 3 4 done", "list <*> done"),  # runs of values collapse
    ],
)
def test_masks_variable_classes(message: str, expected: str) -> None:
    assert message_template(message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("link up on eth0", "link up on eth0"),  # device names stay
        ("Disk full", "Disk full"),
        ("May the force be with you", "May the force be with you"),  # month-like word
        ("force=true delayed=false", "force=true delayed=false"),  # booleans stay
        (
            "caught java.lang.IllegalStateException in worker",
            "caught java.lang.IllegalStateException in worker",
        ),  # exception types name the failure
        ("depth....0", "depth.... <*>"),  # dot leaders keep their label
        ("", ""),
        ("  \t ", ""),
    ],
)
def test_keeps_constant_parts(message: str, expected: str) -> None:
    assert message_template(message) == expected


def test_nul_in_message_is_harmless() -> None:
    assert message_template("a\x00b Jul 3") == message_template("a b Jul 3")


def test_pathological_inputs_are_linear() -> None:
    """Ingest must never hang on hostile input (regex backtracking)."""
    nasty = [
        "a=" * 50_000,
        ":" * 100_000,
        "1:" * 50_000,
        "<*> " * 30_000,
        "a." * 50_000,
        "(" * 50_000 + "x=" + "{" * 50_000,
        "Jul " * 30_000 + "1",
        "user " * 30_000,
    ]
    t0 = time.perf_counter()
    for m in nasty:
        message_template(m)
    assert time.perf_counter() - t0 < 5.0


# --- determinism, caches, fingerprints -------------------------------------------


def test_deterministic_and_order_independent() -> None:
    first = [message_template(m) for m in SAMPLE]
    clear_caches()
    again = [message_template(m) for m in reversed(SAMPLE)][::-1]
    assert first == again
    assert templates(SAMPLE) == first
    assert templates(SAMPLE, cache=False) == first
    assert templates(reversed(SAMPLE))[::-1] == first


def test_token_memo_does_not_change_results() -> None:
    from telequery.patterns import miner

    with_memo = [message_template(m) for m in SAMPLE]
    saved = miner._TOKEN_CACHE_MAX
    miner._TOKEN_CACHE_MAX = 0
    try:
        clear_caches()
        without = [message_template(m) for m in SAMPLE]
    finally:
        miner._TOKEN_CACHE_MAX = saved
        clear_caches()
    assert with_memo == without


def test_fingerprint_is_stable() -> None:
    template = "PacketResponder <*> for block <*> terminating"
    assert message_template(SAMPLE[0]) == template
    fp = fingerprint(template)
    assert fp == "457c4f1a6e5d323f"  # blake2b-64; must never change across releases
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fingerprint(template) == fp
    assert fingerprint(template + " ") != fp
    assert WILDCARD == "<*>"


def test_same_result_in_other_processes() -> None:
    """Templates and fingerprints do not depend on hash seeds or process state."""
    code = (
        "import json, sys\n"
        "from telequery.patterns import fingerprint, message_template\n"
        "msgs = json.load(sys.stdin)\n"
        "print(json.dumps([fingerprint(message_template(m)) for m in msgs]))\n"
    )
    import json

    expected = [fingerprint(message_template(m)) for m in SAMPLE]
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(SAMPLE),
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert json.loads(out.stdout) == expected


# --- scoring ------------------------------------------------------------------------


def test_grouping_accuracy_hand_made() -> None:
    truth = ["A", "A", "B", "B", "C", "D"]
    # A exact; B split in two; C and D merged: only the two A lines are right.
    predicted = ["x", "x", "y", "z", "w", "w"]
    assert grouping_accuracy(predicted, truth) == pytest.approx(2 / 6)
    assert grouping_accuracy(truth, truth) == 1.0
    # Labels need not match, only the partition: renaming groups changes nothing.
    assert grouping_accuracy(["p", "p", "q", "q", "r", "s"], truth) == 1.0
    # One group for everything: correct only if there is one true group.
    assert grouping_accuracy(["g"] * 6, truth) == 0.0
    assert grouping_accuracy(["g"] * 3, ["t"] * 3) == 1.0
    assert grouping_accuracy([], []) == 1.0
    with pytest.raises(ValueError):
        grouping_accuracy(["a"], [])


# Per-system GA reached by the default configuration (floored to 2 decimals).
ACHIEVED_FLOOR = {
    "HDFS": 0.99,
    "Hadoop": 0.99,
    "Spark": 0.99,
    "Zookeeper": 0.99,
    "BGL": 0.99,
    "HPC": 0.97,
    "Thunderbird": 0.97,
    "Windows": 0.99,
    "Linux": 0.81,
    "Android": 0.98,
    "HealthApp": 0.98,
    "Apache": 1.0,
    "Proxifier": 0.99,
    "OpenSSH": 1.0,
    "OpenStack": 1.0,
    "Mac": 0.97,
}


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"loghub-2k data not found at {DATA_DIR}")
def test_loghub_grouping_accuracy() -> None:
    result = score_all(DATA_DIR, timing=False)
    systems = result["systems"]
    assert set(systems) == set(DRAIN_GA)
    assert result["mean_ga"] >= 0.975  # target was 0.90; reached 0.9800
    for name, row in systems.items():
        assert row["ga"] >= DRAIN_GA[name] - 0.05, name  # the brief's floor
        assert row["ga"] >= ACHIEVED_FLOOR[name], (name, row["ga"])
    # Merged into patterns, on the original and the corrected labels (measured 0.9733 and
    # 0.9705), and on the agent set, where merging is what groups word-valued slots
    # (measured 0.38 -> 0.85).
    assert result["mean_ga_merged"] >= 0.96
    assert result["mean_ga_corrected"] >= 0.97 and result["mean_ga_corrected_merged"] >= 0.96
    assert len([r for r in systems.values() if "ga_corrected" in r]) == 14
    agents = result["agents"]
    assert agents["ga_merged"] >= 0.8 and agents["ga_merged"] >= agents["ga"] + 0.4


# --- balanced templates -------------------------------------------------------------


def _balanced(text: str) -> bool:
    stack: list[str] = []
    for ch in text.replace(WILDCARD, ""):
        if ch in "([{":
            stack.append(ch)
        elif ch in ")]}" and (not stack or "([{"[")]}".index(ch)] != stack.pop()):
            return False
    return not stack and text.count('"') % 2 == 0


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("updated product p_12 (3 fields changed)", "updated product <*> (<*> fields changed)"),
        ("MCP server github connected (12 tools)", "MCP server github connected (<*> tools)"),
        ("queue emails batch (attempt 3)", "queue emails batch (attempt <*>)"),
        ('POST /v1/x "HTTP/1.1 200 OK"', 'POST <*> "<*> OK"'),
        ("synchronized to LOCAL(0), stratum 10", "synchronized to <*>, stratum <*>"),
        ("connection from 1.2.3.4 (host.example.com) at x", "connection from <*> at x"),
        ("alarm Alarm{2741 type 3} set", "alarm <*>{<*> type <*>} set"),
        ("Sent 1234 bytes (1.2 KB) to peer", "Sent <*> bytes to peer"),
        ("reading '0x7f00'", "reading '<*>'"),
        ("failed to persist user 42: deadlock", "failed to persist user <*>: deadlock"),
    ],
)
def test_brackets_and_quotes_stay_balanced(message: str, expected: str) -> None:
    assert message_template(message) == expected
    assert _balanced(expected)


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"loghub-2k data not found at {DATA_DIR}")
def test_every_balanced_loghub_line_gives_a_balanced_template() -> None:
    lines = [m for f in sorted(DATA_DIR.glob("*_structured.csv"))
             for m in load_structured_csv(f)[0]] + agentlogs.lines()[0]
    balanced = [m for m in lines if _balanced(m)]
    assert len(balanced) > 30_000
    assert [m for m in balanced if not _balanced(message_template(m))] == []


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=2, max_size=10).filter(
    lambda w: w.strip("_") and w not in {"user", "password"})
# Values of the classes the miner masks on their own: numbers, ids, hosts, addresses,
# paths, e-mails, durations, dotted names.
_MASKED = st.one_of(
    st.integers(0, 10**12).map(str),
    st.floats(0, 1e6, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.uuids().map(str),
    st.binary(min_size=4, max_size=12).map(bytes.hex).filter(lambda h: any(c.isdigit() for c in h)),
    st.ip_addresses().map(str),
    st.tuples(_WORD, _WORD).map(lambda t: f"{t[0]}.{t[1]}.com"),
    st.tuples(_WORD, _WORD).map(lambda t: f"/{t[0]}/{t[1]}"),
    st.tuples(_WORD, _WORD).map(lambda t: f"{t[0]}@{t[1]}.dev"),
    st.integers(1, 99_999).map(lambda n: f"{n}ms"),
    st.tuples(_WORD, _WORD).map(lambda t: f"{t[0]}.{t[1]}"),
)
_WRAP = st.sampled_from(["{}", "({})", "'{}'", "[{}],", '"{}"'])


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.tuples(_MASKED, _MASKED), min_size=2, max_size=10), wrap=_WRAP)
def test_values_the_miner_masks_give_one_fingerprint(values: list[tuple[str, str]],
                                                      wrap: str) -> None:
    """The same shape with different masked values (numbers, ids, hosts, paths, ...)
    gives one stored template, so one fingerprint, with its brackets kept."""
    got = {f"retry {a} of job {wrap.format(b)} failed":
           message_template(f"retry {a} of job {wrap.format(b)} failed") for a, b in values}
    fps = {fingerprint(t) for t in got.values()}
    assert len(fps) == 1, got
    template = message_template(f"retry {values[0][0]} of job {wrap.format(values[0][1])} "
                                "failed")
    assert template == f"retry <*> of job {wrap.format('<*>')} failed"


@settings(max_examples=60, deadline=None)
@given(words=st.lists(_WORD, min_size=3, max_size=12, unique=True),
       masked=st.lists(_MASKED, min_size=1, max_size=12), wrap=_WRAP, data=st.data())
def test_a_word_slot_with_three_values_is_one_pattern(words: list[str], masked: list[str],
                                                      wrap: str, data: st.DataObject) -> None:
    """A slot taking three or more words, next to masked values, merges into one pattern
    and so one fingerprint, whatever the pairing of words and values."""
    pairs = [(w, data.draw(st.sampled_from(masked))) for w in words]
    messages = [f"tool {wrap.format(w)} failed after {v} for agent" for w, v in pairs]
    pattern_of = merge_templates(message_template(m) for m in messages)
    patterns = {pattern_of[message_template(m)] for m in messages}
    assert patterns == {f"tool {wrap.format('<*>')} failed after <*> for agent"}
    assert len({fingerprint(p) for p in patterns}) == 1


def test_merge_keeps_choices_and_constants_apart() -> None:
    pattern_of = merge_templates([
        "connection opened from <*>", "connection closed from <*>",  # a choice of two
        "request GET <*>", "request POST <*>", "request PUT <*>",  # capitals: constants
        "started a", "finished a", "stopped a",  # the first word names the event
    ])
    assert all(k == v for k, v in pattern_of.items())


def test_merge_joins_slots_instances_and_several_slots() -> None:
    pattern_of = merge_templates([
        "tool web_search failed: timeout", "tool <*> failed: timeout",  # a <*> already
        "tool calculator failed: timeout",
        "call <*> (web_search) ok", "call <*> (fetch_url) ok", "call <*> (sql_query) ok",
        "field 'x' expected number got null",  # combinations seen once, covered by
        "field 'y' expected string got object",  # a more general template
        "field '<*>' expected <*> got <*>",
    ])
    assert {pattern_of[t] for t in pattern_of if t.startswith("tool")} == {
        "tool <*> failed: timeout"}
    assert {pattern_of[t] for t in pattern_of if t.startswith("call")} == {"call <*> ok"}
    assert {pattern_of[t] for t in pattern_of if t.startswith("field")} == {
        "field '<*>' expected <*> got <*>"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([
    "tool a_b failed", "tool c_d failed", "tool e_f failed", "tool <*> failed",
    "x 1 y", "x <*> y", "job alpha done in <*>", "job beta done in <*>",
    "job gamma done in <*>", "GET <*>", "user <*> logged in"]), min_size=1), st.randoms())
def test_merge_depends_on_the_set_only(templates: list[str], rnd) -> None:
    shuffled = templates[:]
    rnd.shuffle(shuffled)
    assert merge_templates(templates) == merge_templates(shuffled + templates[:1])


def test_update_markdown_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\nintro\n\n## Other\n\nkeep me\n", encoding="utf-8")
    update_markdown(doc, "first")
    update_markdown(doc, "second")
    text = doc.read_text(encoding="utf-8")
    assert text.count("## Pattern mining (loghub-2k)") == 1
    assert "second" in text and "first" not in text
    assert "keep me" in text and text.startswith("# Title")
    # A section in the middle is replaced in place, later sections survive.
    doc.write_text(
        "# T\n\n## Pattern mining (loghub-2k)\n\nold\n\n## Later\n\nstays\n", encoding="utf-8"
    )
    update_markdown(doc, "new")
    text = doc.read_text(encoding="utf-8")
    assert "old" not in text and "new" in text and "## Later\n\nstays" in text
    assert text.index("new") < text.index("## Later")
