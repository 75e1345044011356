"""The errors a user causes and can fix; the command line prints them in one line.

Every documented error derives from `UserError`: a dataset that cannot be read
(`DatasetError`), a filter that selects nothing (`FilterError`), a config that is
missing or wrong (`ConfigError`), a run directory another process writes
(`RunLockedError`). Operating-system errors (a missing file, a read-only directory, a
full disk) are the user's to fix too. `offline_rl.cli` prints these as
`offline-rl COMMAND: error: MESSAGE` and exits 1; anything else is a bug and keeps its
traceback (`--traceback` shows it for user errors as well). See docs/faults.md.
"""
from __future__ import annotations


class UserError(Exception):
  """An error in what the user asked for or gave; its message says how to fix it."""


class ConfigError(UserError, ValueError):
  """A config (file, field or value) is missing or wrong."""


def is_user_error(error: BaseException) -> bool:
  """Whether `error` is documented (a UserError) or the environment's (an OSError)."""
  return isinstance(error, (UserError, OSError))


def one_line(error: BaseException) -> str:
  """The error's message on one line; an OSError names its file."""
  if isinstance(error, OSError) and error.strerror and error.filename:
    text = f'{error.strerror}: {error.filename}'
  elif isinstance(error, KeyError) and error.args:
    text = str(error.args[0])
  else:
    text = str(error) or type(error).__name__
  return ' '.join(text.split())
