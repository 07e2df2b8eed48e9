"""gunicorn's uvicorn worker without the access log.

tandem runs with --no-access-log and uvicorn with --no-access-log; the stock
uvicorn.workers.UvicornWorker formats an access record for every request
(dropped by gunicorn's handlers when no access log file is set). This worker
turns it off, and keeps uvloop and httptools (loop and http "auto").
"""

from uvicorn.workers import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "access_log": False}
