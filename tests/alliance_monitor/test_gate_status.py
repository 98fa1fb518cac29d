"""`up` and `demo` say plainly whether the scoring model may speak to counselors."""

from __future__ import annotations

import pytest

from alliance_monitor.up import gate_status


@pytest.fixture(scope="module")
def demo_identity():
    from scoring.models import pull_demo
    from scoring.prompts import PROMPT_VERSION
    from streams.contracts import ModelIdentity

    ref = pull_demo(progress=False)
    return ModelIdentity(name=ref.name, revision=ref.revision, prompt_version=PROMPT_VERSION)


def test_unvalidated_until_a_passing_record_for_this_identity(tmp_path, demo_identity):
    from store.db import make_engine, upgrade
    from store.repository import StoreRepository
    from validation import synthetic
    from validation.verdict import GateSettings, evaluate

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    assert "is UNVALIDATED" in gate_status(None, url)

    ds = synthetic.signal_in("bond")
    other = demo_identity.model_copy(update={"revision": "another"})
    repo = StoreRepository(make_engine(url))
    repo.add_validation_record(evaluate(other, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=200)))
    assert "is UNVALIDATED" in gate_status(None, url)  # a record of another revision does not count

    repo.add_validation_record(evaluate(demo_identity, ds.predictions, ds.labels, ds.covariates,
                                        GateSettings(resamples=200)))
    line = gate_status(None, url)
    assert "is validated for bond" in line and "242 labelled sessions" in line
