"""Case ids, the Python half: the same grammar as harness/core/case-id.ts, read from the same file
(harness/core/case-id.json). An id is ``family:key=value,key=value`` with its keys in the grammar's order, so a
case has one name whichever language or suite wrote it (docs/case-ids.md).

    case_id("velocity", breed="Bombay", t=0.5, batch=1) -> "velocity:breed=Bombay,t=0.5,batch=1"
"""
from __future__ import annotations

import json
import re
from pathlib import Path

GRAMMAR_FILE = Path(__file__).resolve().parents[3] / "harness" / "core" / "case-id.json"
_GRAMMAR = json.loads(GRAMMAR_FILE.read_text())
KEY_ORDER: list[str] = _GRAMMAR["keyOrder"]
SELF_TEST_KEYS: list[str] = _GRAMMAR["selfTestKeys"]
_RANK = {k: i for i, k in enumerate(KEY_ORDER)}
_FAMILY = re.compile(_GRAMMAR["familyPattern"])


class CaseIdError(ValueError):
    pass


def _text(v) -> str:
    """A value as TypeScript's String() writes it (the ids must be byte-identical across the two languages)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    return str(v)


def case_id(family: str, params: dict | None = None, **kw) -> str:
    """The canonical id of a case; None values leave their key out."""
    if not _FAMILY.match(family):
        raise CaseIdError(f"case id family {family!r} does not match {_GRAMMAR['familyPattern']}")
    parts = []
    for k, v in {**(params or {}), **kw}.items():
        if v is None:
            continue
        if k not in _RANK:
            raise CaseIdError(f"case id {family}: unknown key {k!r}; add it to harness/core/case-id.json's keyOrder")
        s = _text(v)
        for ch in _GRAMMAR["valueForbidden"]:
            if ch in s:
                raise CaseIdError(f"case id {family}: {k}={s!r} contains {ch!r}, which the grammar reserves")
        # '' is a bare word: a flag with no value (bundle:load, contract:reader,fault=empty)
        parts.append((_RANK[k], f"{k}={s}" if s else k))
    parts.sort(key=lambda p: p[0])
    return f"{family}:{','.join(p[1] for p in parts)}" if parts else family


def parse_case_id(id_: str) -> tuple[str, dict[str, str]]:
    family, _, rest = id_.partition(":")
    params: dict[str, str] = {}
    for part in rest.split(","):
        k, eq, v = part.partition("=")
        if not eq:
            if part:
                params[part] = ""
            continue
        params[k] = v
    return family, params


def non_canonical(id_: str) -> str | None:
    """Why an id is not what case_id builds (None when it is)."""
    try:
        family, params = parse_case_id(id_)
        built = case_id(family, params)
    except CaseIdError as e:
        return str(e)
    return None if built == id_ else f"not in canonical order: write {built}"
