"""moto's server, with its DynamoDB backend isolated as DynamoDB is.

moto runs each request on its own thread. Its TransactWriteItems snapshots
every table it touches and, when a condition fails, puts the snapshot back:
writes that other requests committed in between are silently undone, and
a reader can see half a transaction. DynamoDB never does either, and INC's
concurrency tests (two events of one order at once) would count moto's
losses as INC's. So every call into the DynamoDB backend takes one lock:
each request is atomic and isolated, as on DynamoDB. SQS, SES and the rest
are untouched, so long polls still run side by side.

That snapshot is also a deep copy of every table it touches, taken once
per item of the transaction: a copy of the whole notifications table for
each of an event's 50 endpoints, of a 100,000-member list for each hundred
members imported -- seconds, then minutes, as tables grow, which is moto's
cost and not DynamoDB's. Here a transaction saves only the items it names
before it runs and, if it is refused, puts back exactly those: the same
all-or-nothing, at the cost of the transaction's own size.

And a Query sorted every item of the table before it picked those of the
partition asked for (or of the index's key): a page of a list's members
cost a sort of every member of every list. Here a Query looks only at the
items of its partition (an index's Query, only at the items carrying the
key asked for), and sorts those, as moto then does anyway.
"""

import copy
import functools
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
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


class _NoTableSnapshot:
    """`copy` for the duration of one transaction: the table snapshot moto
    takes is the table itself, so its own rollback changes nothing; the
    items the transaction names are saved and put back instead."""

    @staticmethod
    def deepcopy(value, *args, **kwargs):
        return value

    def __getattr__(self, name):
        return getattr(copy, name)


def _saved_items(backend, transact_items):
    """(table, hash key, range key, a copy of the item or None) for every
    item the transaction names; None if a key cannot be read (moto then
    refuses the request before it changes anything)."""
    saved = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = (
                DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            )
        except Exception:  # noqa: BLE001 -- any malformed request
            return None
        current = table.get_item(hash_key, range_key)
        saved.append((table, hash_key, range_key, copy.deepcopy(current)))
    return saved


def _put_back(saved):
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item


_transact = DynamoDBBackend.transact_write_items


def _transact_undoing_items(self, transact_items, *args, **kwargs):
    # Under the backend lock, so no other request sees the swapped module.
    with _LOCK:
        saved = _saved_items(self, transact_items)
        if saved is None:
            return _transact(self, transact_items, *args, **kwargs)
        dynamodb_models.copy = _NoTableSnapshot()
        try:
            return _transact(self, transact_items, *args, **kwargs)
        except BaseException:
            _put_back(saved)
            raise
        finally:
            dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = functools.wraps(_transact)(_transact_undoing_items)

def _every_item(table):
    for partition in table.items.values():
        if table.range_key_attr:
            yield from partition.values()
        else:
            yield partition


_table_query = Table.query


def _query_one_partition(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    conditions = kwargs.get("hash_key_conditions")
    if index_name and not conditions:
        return _table_query(self, hash_key, *args, **kwargs)
    if index_name:
        candidates = [
            item
            for item in _every_item(self)
            if all(
                item.attrs.get(name) is not None and item.attrs.get(name) == value
                for name, value in conditions
            )
        ]
    else:
        partition = self.items.get(hash_key)
        if partition is None:
            candidates = []
        elif self.range_key_attr:
            candidates = list(partition.values())
        else:
            candidates = [partition]
    # Under the backend lock: no other request sees the shadowed method.
    self.all_items = lambda: candidates
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = functools.wraps(_table_query)(_query_one_partition)

if __name__ == "__main__":
    sys.exit(main())
