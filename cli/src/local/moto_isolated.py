"""moto's server, with its DynamoDB backend isolated as DynamoDB is.

moto runs each request on its own thread. Its TransactWriteItems snapshots
every table it touches and, when a condition fails, puts the snapshot back:
writes that other requests committed in between are silently undone, and
a reader can see half a transaction. DynamoDB never does either, and INC's
concurrency tests (two events of one order at once) would count moto's
losses as INC's. So every call into the DynamoDB backend takes one lock:
each request is atomic and isolated, as on DynamoDB. SQS, SES and the rest
are untouched, so long polls still run side by side.

That snapshot is also taken once per item of the transaction, not once per
table: an event fanned out to 50 endpoints deep-copied the whole
notifications table 50 times, seconds on a full table, which is moto's cost
and not DynamoDB's. Within one transaction a table is copied once; the
rollback sees the same snapshot it always did.
"""

import copy
import functools
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()

for _name in (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "transact_write_items",
):
    _method = getattr(DynamoDBBackend, _name)

    def _locked(*args, _method=_method, **kwargs):
        with _LOCK:
            return _method(*args, **kwargs)

    setattr(DynamoDBBackend, _name, functools.wraps(_method)(_locked))


class _OneSnapshotPerTable:
    """`copy` for the duration of one transaction: each table deep-copied once."""

    def __init__(self):
        self._copies = {}

    def deepcopy(self, value, *args, **kwargs):
        key = id(value)
        if key not in self._copies:
            self._copies[key] = copy.deepcopy(value, *args, **kwargs)
        return self._copies[key]

    def __getattr__(self, name):
        return getattr(copy, name)


_transact = DynamoDBBackend.transact_write_items


def _transact_once_per_table(*args, **kwargs):
    # Under the backend lock, so no other request sees the swapped module.
    with _LOCK:
        dynamodb_models.copy = _OneSnapshotPerTable()
        try:
            return _transact(*args, **kwargs)
        finally:
            dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = functools.wraps(_transact)(_transact_once_per_table)

if __name__ == "__main__":
    sys.exit(main())
