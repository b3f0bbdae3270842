"""Log lines on their way to the logs service: the shared producer side (DESIGN §3, issue 9).

``lines``: the wire shape of one line and the 64 KiB split. ``runlog``: one run's lines from one source (numbering,
the per-run quota and its truncation marker). ``spool``: the bounded local file lines wait in while the bus is away.
``publisher``: the process-wide publisher that never blocks its caller. ``tail``: a tool's output file followed
into lines. The local backend, lifecycle, and later the builder and jobs all publish through these.
"""

from libs.logs.lines import MAX_LINE_BYTES, LogLine, split_message
from libs.logs.publisher import LogPublisher
from libs.logs.runlog import RunLog

__all__ = ["MAX_LINE_BYTES", "LogLine", "LogPublisher", "RunLog", "split_message"]
