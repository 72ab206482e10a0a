"""The Python case-id builder agrees with the TypeScript one: both read harness/core/case-id.json and must give its
vectors byte for byte (suites/harness/case-id.test.ts runs the same vectors), refuse its invalid cases, and the
ids the producer writes into a bundle's goldens are canonical."""
import json
from pathlib import Path

import pytest

from tinydit.case_id import GRAMMAR_FILE, CaseIdError, case_id, non_canonical, parse_case_id

GRAMMAR = json.loads(GRAMMAR_FILE.read_text())
REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("v", GRAMMAR["vectors"], ids=lambda v: v["id"])
def test_vectors(v):
    assert case_id(v["family"], v["params"]) == v["id"]
    assert non_canonical(v["id"]) is None
    family, params = parse_case_id(v["id"])
    assert family == v["family"]
    assert params == {k: str(x) for k, x in v["params"].items() if x is not None}


@pytest.mark.parametrize("v", GRAMMAR["invalid"], ids=lambda v: v["why"])
def test_invalid(v):
    with pytest.raises(CaseIdError):
        case_id(v["family"], v["params"])


def test_non_canonical_names_the_fix():
    assert non_canonical("velocity:batch=1,variant=guided") == "not in canonical order: write velocity:variant=guided,batch=1"
    assert "unknown key" in non_canonical("velocity:colour=red")


def test_numbers_written_as_typescript_writes_them():
    assert case_id("velocity", t=1.0, batch=2) == "velocity:t=1,batch=2"
    assert case_id("velocity", t=0.25) == "velocity:t=0.25"
    assert case_id("velocity", breed=True) == "velocity:breed=true"


def test_shipped_golden_ids_are_canonical():
    index = json.loads((REPO / "fixtures/default/goldens/index.json").read_text())
    ids = []

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("id"), str) and ":" in x["id"]:
                ids.append(x["id"])
            for y in x.values():
                walk(y)
        elif isinstance(x, list):
            for y in x:
                walk(y)

    walk(index)
    assert ids, "goldens/index.json names no case"
    assert [i for i in ids if non_canonical(i)] == []
