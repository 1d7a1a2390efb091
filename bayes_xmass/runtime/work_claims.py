"""First come, first served claims on named pieces of work, shared by the processes of one machine
(e.g. a run's main process and its background worker): one empty file per claim in a private directory."""

from __future__ import annotations

import os
import shutil
import tempfile

__all__ = ["WorkClaims"]


class WorkClaims:
    """First come, first served claims on named pieces of work, shared by the processes of one
    machine: a claim is the exclusive creation of a file in a private directory (atomic on local
    file systems), so two processes can never both take the same piece. Picklable (a path).

    >>> claims = WorkClaims.create()
    >>> claims.take("fit_a"), claims.take("fit_a"), claims.taken("fit_a"), claims.taken("fit_b")
    (True, False, True, False)
    >>> claims.remove()
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = str(directory)

    @classmethod
    def create(cls) -> WorkClaims:
        """Claims in a new private temporary directory (:meth:`remove` deletes it)."""
        return cls(tempfile.mkdtemp(prefix="bayes_xmass_claims_"))

    def _path(self, name: str) -> str:
        if not name or os.sep in name or name.startswith("."):
            raise ValueError(f"claim name {name!r} must be a plain file name")
        return os.path.join(self.directory, name)

    def take(self, name: str) -> bool:
        """True if this call claimed ``name``; False if it was claimed before (by anyone)."""
        try:
            fd = os.open(self._path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def taken(self, name: str) -> bool:
        """True if ``name`` has been claimed (by anyone)."""
        return os.path.exists(self._path(name))

    def remove(self) -> None:
        """Delete the claims directory (and every claim in it)."""
        shutil.rmtree(self.directory, ignore_errors=True)
