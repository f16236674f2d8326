"""Idempotency keys (API `Idempotency-Key` headers, WooCommerce delivery ids): a retry with the same key and
the same request gets the first response again; the same key with another request is refused.

The work and its recorded response commit together, in one transaction: the key is claimed with an insert
that a concurrent request with the same key waits on (the unique constraint) until the first one commits
(then it replays the recorded response) or rolls back (then it does the work itself). A request that dies
in flight (its worker killed, its database connection dropped) rolls back with its claim, so a retry is
never told that the key is "still being processed" forever, whether or not the work had committed: either
the work and its response are there, or neither is.

    with transaction.atomic():
        claim = idempotency_claim(scope=..., key=..., request_hash=...)
        if claim.replay is not None:
            return claim.replay            # (status, body) of the first response
        ...the work...
        idempotency_record(claim, status=..., body=...)
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from loyalty.models import IdempotencyRecord
from loyalty.services.ledger import IdempotencyConflict

# The status of a claim whose response is not recorded yet: seen by no other transaction, as the claim and
# its response commit together; a committed row with it was left by an earlier version of this code.
UNFINISHED = 0


@dataclass
class Claim:
    record: IdempotencyRecord | None  # ours to fill in with the response
    replay: tuple[int, bytes] | None  # the first response (status, body), when this is a retry


def idempotency_claim(*, scope: str, key: str, request_hash: str) -> Claim:
    """Claim `key` in `scope` for this request, inside the caller's transaction (which must also hold the
    work). Raises IdempotencyConflict when the key was used with another request."""
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_claim must run in the transaction that does the work")
    try:
        with transaction.atomic():  # a savepoint: a duplicate key leaves the caller's transaction usable
            record = IdempotencyRecord.objects.create(
                scope=scope, key=key, request_hash=request_hash, status_code=UNFINISHED, response_body=b""
            )
    except IntegrityError:
        existing = IdempotencyRecord.objects.select_for_update().get(scope=scope, key=key)
        if existing.status_code == UNFINISHED:  # left by a request that died before claims were transactional
            existing.delete()
            return idempotency_claim(scope=scope, key=key, request_hash=request_hash)
        if existing.request_hash != request_hash:
            raise IdempotencyConflict(_("This Idempotency-Key was used with a different request.")) from None
        return Claim(record=None, replay=(existing.status_code, bytes(existing.response_body)))
    return Claim(record=record, replay=None)


def idempotency_record(claim: Claim, *, status: int, body: bytes) -> None:
    """Store the response of the claimed request; it commits with the work."""
    if claim.record is None:
        raise ValueError("only a claim this request made can be recorded")
    IdempotencyRecord.objects.filter(pk=claim.record.pk).update(status_code=status, response_body=body)
