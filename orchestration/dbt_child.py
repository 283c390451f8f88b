"""`wabi-dbt`: dbt, bound to the life of the process that started it.

dagster-dbt runs the dbt executable it is given as a child process. This wrapper asks Linux to
SIGKILL it when its parent dies (`PR_SET_PDEATHSIG`), then becomes the real `dbt` with `execv`;
the request survives the exec. A refresh killed even with `kill -9` therefore never leaves a
`dbt build` writing on to the warehouse. The signal fires when the *thread* that started the
child ends: dagster-dbt starts it from the op's thread, the main thread of the run's process.

Kept free of wabi's other modules: it runs before every dbt command, so it imports nothing heavy.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def real_dbt() -> Path:
    """dbt beside the running interpreter, so an unactivated virtualenv works."""
    return Path(sys.prefix) / "bin" / "dbt"


def main() -> NoReturn:
    parent = os.getppid()
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(128 + signal.SIGKILL)
    dbt = real_dbt()
    os.execv(dbt, [str(dbt), *sys.argv[1:]])
