"""One writer per run directory: a lock file holding the writer's process id.

`RunLock(workdir)` (a context manager) creates the directory and takes an exclusive
`fcntl.flock` on `<workdir>/run.lock`, writing `pid@host` into it. A second command on
the same directory finds the lock held and raises `RunLockedError` naming the process.
The kernel drops the lock when its process ends however it ends (kill -9 included), so
a lock file left by a dead process is stale and simply taken over. (flock locks are
local to one machine: on a network file system, run one writer per directory.) The
processes of one multi-process run (`jax.process_count() > 1`) are one writer: process 0
holds the lock for them all.
"""
from __future__ import annotations

import fcntl
import os
import socket

import jax

from offline_rl import errors

LOCK_FILE = 'run.lock'


class RunLockedError(errors.UserError):
  """Another process is writing the run directory."""


def check_workdir(workdir: str) -> str:
  """The absolute run directory, created; a ConfigError if it cannot be one."""
  workdir = os.path.abspath(os.path.expanduser(workdir))
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise errors.ConfigError(f'--workdir {workdir} is a file, not a directory. Choose '
                             'a directory for the run (it is created if missing).')
  os.makedirs(workdir, exist_ok=True)
  if not os.access(workdir, os.W_OK | os.X_OK):
    raise errors.ConfigError(f'--workdir {workdir} is not writable. Choose a directory '
                             'you can write to.')
  return workdir


class RunLock:
  """Holds `<workdir>/run.lock` while a command writes the run (module docstring)."""

  def __init__(self, workdir: str):
    self.workdir = check_workdir(workdir)
    self.path = os.path.join(self.workdir, LOCK_FILE)
    self._fd: int | None = None

  def acquire(self) -> 'RunLock':
    if jax.process_index() != 0:
      return self
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 256, 0).decode(errors='replace').strip() or 'another process'
      os.close(fd)
      raise RunLockedError(
          f'{self.workdir} is being written by process {holder} (lock {self.path}). '
          'Wait for it to finish, stop it, or choose another --workdir.') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}@{socket.gethostname()}\n'.encode(), 0)
    self._fd = fd
    return self

  def release(self) -> None:
    if self._fd is None:
      return
    # The file stays (emptied): unlinking it would let two later writers lock two
    # different files of the same name.
    os.ftruncate(self._fd, 0)
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  def __enter__(self) -> 'RunLock':
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()
