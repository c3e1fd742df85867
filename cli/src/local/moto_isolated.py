"""moto's server, with its DynamoDB backend isolated as DynamoDB is.

moto runs each request on its own thread. Its TransactWriteItems snapshots
every table it touches and, when a condition fails, puts the snapshot back:
writes that other requests committed in between are silently undone, and
a reader can see half a transaction. DynamoDB never does either, and INC's
concurrency tests (two events of one order at once) would count moto's
losses as INC's. So every call into the DynamoDB backend takes one lock:
each request is atomic and isolated, as on DynamoDB. SQS, SES and the rest
are untouched, so long polls still run side by side.
"""

import functools
import sys
import threading

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

if __name__ == "__main__":
    sys.exit(main())
