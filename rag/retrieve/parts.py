"""A question that asks several things, read as its parts: sub-questions split at question
marks, a follow-up part completed from the one before ("B区呢", "它…"), an interval between
two events asked as each event's date, and "A和B分别…" asked of A and of B.

    >>> split_parts("某区有多少家企业？另一区呢？")
    ['某区有多少家企业', '另一区呢']
"""

from __future__ import annotations

import re

from rag.text.patterns import PERSON_PRONOUN, WH_WORD, YEAR, YEAR_TOKEN, normalize
from rag.text.tokenize import Tokenizer

__all__ = ["complete_followup", "complete_part", "interval_events", "several_subjects",
           "split_parts"]

# One question in several: split at question marks and semicolons, and at a comma that starts
# an elliptical follow-up ("…，B区呢").
_PART_SEP = re.compile(r"[？?；;]+|[，,](?=[^，,？?]{1,20}呢)|,?\s+and\s+(?=(?:when|what|who|how|"
                       r"which|where)\b)")

# "A和B前后相隔几年": the interval between two events is asked; each event's date answers it.
_INTERVAL = re.compile(r"[,，]?\s*(?:前后)?(?:大约|大概|约)?(?:相隔|相差|间隔|隔了|差了|相距)(?:大约|大概|约)?"
                       r"(?:多少|几|多久).*$")
_FROM_TO = re.compile(r"^(.*?)从(.+?)(?:到|至)(.+)$")
_ELLIPSIS_HEAD = re.compile(r"^(那么|那|还有|另外|以及|and |what about )")
_ELLIPSIS_TAIL = re.compile(r"(呢|吗)$")
_WH_TAIL = re.compile(r"(是多少|有多少|多少[个家名项款台人次条元户场]?|几[个家名项款台次条户场届]?|"
                      r"是谁|是哪[一个家位些里天年月]*|什么时候|哪[一个家位些里天年月]*)")
_JOINED = re.compile(r"和|与|及|、|以及")
_SEVERAL = re.compile(r"分别|各自|各是|各有|各为|对比|相比")

# 它 anywhere in a part: the subject of the part before.
_IT = re.compile(r"它们|它")
# A pronoun standing for the subject of the part before: "它一共连接了多少台设备".
_PRONOUN = re.compile(r"^(?:它们|它|其|该公司|该企业|该集团|该机构|这家公司|这家企业)")


def split_parts(question: str) -> list[str]:
    """The sub-questions of ``question`` (one when it asks one thing), at most three."""
    parts = [p.strip(" ，,。") for p in _PART_SEP.split(question)]
    parts = [p for p in parts if len(p) >= 2]
    return parts[:3] if len(parts) >= 2 else [question.strip()]


def complete_followup(q: str, history: list[str] | tuple[str, ...]) -> str:
    """Turn an elliptical follow-up into a full question using the previous one.

    ``complete_followup("那2025年呢", ["某区2026年的目标是多少"])`` -> ``"某区2025年的目标是多少"``.
    """
    if not history:
        return q
    prev = history[-1]
    elliptical = len(q) <= 14 and (q.startswith(("那", "那么", "还有", "and ", "what about"))
                                   or q.rstrip("?？ ").endswith("呢"))
    if not elliptical:
        return q
    core = _ELLIPSIS_TAIL.sub("", _ELLIPSIS_HEAD.sub("", q).rstrip("?？ "))
    ys = YEAR.findall(normalize(core))
    if ys and YEAR.search(prev):
        return YEAR.sub(ys[0], prev, count=1)
    return f"{prev} {core}".strip()


def complete_part(part: str, prev: str, tokenizer: Tokenizer) -> str:
    """A sub-question made whole from the one before: "B区呢" after "A区有多少家企业" asks
    "B区有多少家企业"; "算法备案呢" after "某区有多少个模型备案" asks the other measure."""
    core = _ELLIPSIS_TAIL.sub("", _ELLIPSIS_HEAD.sub("", part).strip()).strip()
    if WH_WORD.search(core.lower()) and len(core) > 6 and tokenizer.entities(core):
        # A question of its own; its 它 still stands for the subject before ("A在南沙签约后…？
        # 它的平台在广州哪些线路落地？").
        prev_ents = tokenizer.entities(prev)
        return _IT.sub(_topic(prev, prev_ents, tokenizer), core, count=1) if prev_ents else core
    ys, prev_ys = YEAR.findall(core), YEAR.findall(prev)
    if ys and prev_ys and not WH_WORD.search(core):
        return prev.replace(prev_ys[0], ys[0], 1)
    ents, prev_ents = tokenizer.entities(core), tokenizer.entities(prev)
    if ents and prev_ents and not set(ents) & set(prev_ents) and len(core) <= len(ents[0]) + 2:
        return prev.replace(prev_ents[0], ents[0], 1)
    wh = _WH_TAIL.search(prev)
    topic = (_topic(prev, prev_ents, tokenizer) if prev_ents else _lead_noun_phrase(prev, tokenizer)) \
        if not ents else ""
    if topic and _PRONOUN.search(core):  # "它/其/该公司…" stands for the subject before
        return _PRONOUN.sub(topic, core, count=1) + (wh.group(0) if wh and not WH_WORD.search(core)
                                                     else "")
    if PERSON_PRONOUN.match(core):  # 他/她: the person the part before asks for (the pipeline)
        return core
    # A part naming no subject of its own is about the one before's ("…？2026年是第几届？").
    return f"{topic}{core}{wh.group(0) if wh and not WH_WORD.search(core) else ''}"


def _topic(prev: str, ents: list[str], tokenizer: Tokenizer) -> str:
    """What the part before is about, of the names it gives: an organisation or an event
    before a place ("2023年广州办的是第几届琶洲算法大赛" is about the contest, not 广州)."""
    places = {w for w, f in tokenizer.tagged(prev) if f == "ns"}
    return next((e for e in ents if e not in places), ents[0])


def _lead_noun_phrase(q: str, tokenizer: Tokenizer) -> str:
    """The noun phrase a question opens with ("某机器人团队哪年成立" -> "某机器人团队"): the
    subject of a follow-up part that names none."""
    tagged = list(tokenizer.tagged(q))
    out = []
    if len(tagged) >= 2 and len(tagged[0][0]) == 1 and tagged[0][0] not in "在对向从给把被为跟与和及" \
            and tagged[1][1].startswith(("nr", "nz", "nt")):
        # A name whose first character jieba read as a word of its own (因 + 科达).
        out.append(tagged.pop(0)[0])
    for w, f in tagged:
        if not (f.startswith("n") or f in ("eng", "j", "vn")) or WH_WORD.match(w):
            break
        out.append(w)
    return "".join(out)


def interval_events(text: str, tokenizer: Tokenizer) -> list[str]:
    """"A和B前后相隔几年" -> ["A是哪年", "B是哪年"]: two dated events, each asked alone."""
    m = _INTERVAL.search(text)
    if not m:
        return []
    head = text[:m.start()]
    span = _FROM_TO.match(head)
    if span:  # "X从A到B": both events are X's
        halves = [span.group(1) + span.group(2), span.group(1) + span.group(3)]
    else:
        halves = [h.strip(" ,，") for h in _JOINED.split(head, maxsplit=1)]
    if len(halves) != 2 or not all(len(h) >= 4 for h in halves):
        return []
    return [f"{h}是哪年" for h in halves]


def several_subjects(text: str, tokenizer: Tokenizer) -> list[str]:
    """"A和B分别…" asks each of A and B: one question per subject or year. When A and B are
    joined directly each takes the place of the pair; when each heads a phrase of its own
    ("A的X和B的Y分别有多少") the two phrases share what follows."""
    several = _SEVERAL.search(text)
    if not several:
        return []
    ents = tokenizer.entities(text)
    years = list(dict.fromkeys(m.group(0) for m in YEAR_TOKEN.finditer(text)))
    for items in (years, ents):
        if len(items) < 2:
            continue
        alt = "|".join(map(re.escape, items))
        joined = re.search(f"(?:{alt})(?:(?:{_JOINED.pattern})(?:{alt}))+", text)
        if joined:
            span = joined.group(0)
            return [_SEVERAL.sub("", text.replace(span, it, 1)) for it in items if it in span]
    head, rest = text[:several.start()], _SEVERAL.sub("", text[several.start():], count=1)
    halves = _JOINED.split(head)
    if len(halves) == 2 and all(tokenizer.entities(h) for h in halves):
        return [f"{h}{rest}" for h in halves]
    return []
