"""Idempotency keys are per user, generated from the route table: on every authenticated POST, another user
sending your key (same path, same body) never gets your stored answer."""

from __future__ import annotations

import itertools

import pytest

from tests.security.route_table import OPERATIONS, ids, sample_body
from tests.security.world import World

REPLAYED = "idempotent-replayed"
KEYED = [op for op in OPERATIONS if op.method == "POST" and not op.is_public]
_keys = itertools.count()


@pytest.mark.parametrize("op", KEYED, ids=ids(KEYED))
async def test_another_users_key_never_replays_your_answer(client, user, other_user, op):
    values, _ = await World(client, user.headers).path_values(op)
    url, body, key = op.url(values), sample_body(op), f"tenancy-{next(_keys)}"

    first = await client.post(url, json=body, headers={**user.headers, "Idempotency-Key": key})
    theirs = await client.post(url, json=body, headers={**other_user.headers, "Idempotency-Key": key})

    assert REPLAYED not in theirs.headers, f"{op}: another user got the stored answer {theirs.text[:200]}"
    if op.path_params:
        assert theirs.status_code == 404, theirs.text
    # The control: the key did keep the owner's answer (a 5xx is not kept; logout revokes the owner's token).
    again = await client.post(url, json=body, headers={**user.headers, "Idempotency-Key": key})
    if first.status_code >= 500:
        assert REPLAYED not in again.headers
    elif again.status_code != 401:
        assert again.headers.get(REPLAYED) == "true" and again.content == first.content, again.text
    else:
        assert op.path.startswith("/api/auth/"), f"{op}: the owner's repeat was refused"
