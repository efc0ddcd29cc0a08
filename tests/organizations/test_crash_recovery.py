from __future__ import annotations

import pytest

from app.core.clock import utc_now
from app.organizations.models import Organization
from app.recovery import recover
from tests.faults import Died, Fault, fault_fixture  # noqa: F401 (the `fault` fixture)


@pytest.mark.parametrize("writes", [1, 2, 3])
async def test_create_organization_interrupted_after_each_write_is_finished_or_undone(
    client, ada, fault: Fault, writes
):
    """Writes: the organisation (marked joining), the creator's membership, the mark cleared."""
    fault.arm(writes)
    with pytest.raises(Died):
        await client.post("/api/organizations", json={"name": "Studio"}, headers=ada.headers)
    fault.disarm()
    await recover(utc_now())
    stored = await Organization.find({"personal": False}).to_list()
    listed = (await client.get("/api/organizations", headers=ada.headers)).json()["items"]
    names = [o["name"] for o in listed]
    if writes == 1:  # the creator never joined: the organisation is gone
        assert stored == [] and names == ["Ada Lovelace"]
    else:  # joined: it stands, unmarked
        assert [o.joining_at for o in stored] == [None] and "Studio" in names


async def test_delete_organization_interrupted_after_its_mark_is_finished(client, ada, fault: Fault):
    created = await client.post("/api/organizations", json={"name": "Studio"}, headers=ada.headers)
    org = created.json()["id"]
    fault.arm(1)
    with pytest.raises(Died):
        await client.delete("/api/organization", headers={**ada.headers, "Orbix-Organization": org})
    fault.disarm()
    await recover(utc_now())
    assert await Organization.get(org) is None
    assert [
        o["name"] for o in (await client.get("/api/organizations", headers=ada.headers)).json()["items"]
    ] == ["Ada Lovelace"]
