"""Users see only their own datasets and jobs: another user's are not found (their
existence is not told), whatever the call."""

from __future__ import annotations

import pytest

from dotation import Job, NotFoundError


@pytest.fixture(scope="module")
def alices_job(alice, survey_dataset):
    return alice.submit('kind = "baseline"\ndata = "survey"\n').wait(timeout=600)


def test_another_users_job_is_not_visible(alice, bob, alices_job):
    assert alices_job.id not in [j.id for j in bob.jobs()]
    with pytest.raises(NotFoundError) as e:
        bob.job(alices_job.id)
    assert e.value.message == f"no job {alices_job.id}"
    # The same job through bob's connection: no table, no status, no cancel.
    hers = Job(bob, alices_job.last_status)
    with pytest.raises(NotFoundError):
        hers.table("services")
    with pytest.raises(NotFoundError):
        hers.status()
    with pytest.raises(NotFoundError):
        hers.cancel()
    assert alice.job(alices_job.id).last_status.state == "done"


def test_another_users_dataset_is_not_visible(alice, bob, survey_dataset):
    assert survey_dataset in [d.name for d in alice.datasets()]
    assert survey_dataset not in [d.name for d in bob.datasets()]
    with pytest.raises(NotFoundError) as e:
        bob.submit(f'data = "{survey_dataset}"')
    assert e.value.message.startswith(f'no dataset "{survey_dataset}"')


def test_list_flights_shows_only_your_tables(alice, bob, alices_job):
    def paths(d):
        return [
            tuple(p.decode() for p in info.descriptor.path)
            for info in d.flight_client.list_flights(options=d.call_options)
        ]

    assert ("jobs", alices_job.id, "services") in paths(alice)
    assert not [p for p in paths(bob) if alices_job.id in p]
