"""Lazy imports of optional dependencies, with an error that names what to install."""
from __future__ import annotations

import importlib

# module name -> what to `pip install` (the ranges setup.py pins).
PIP_NAMES = {
    'gymnasium': "'gymnasium>=1.4,<1.5'",
    'pettingzoo': "'pettingzoo[classic]>=1.27,<1.28'",
    'pgx': "'pgx>=2.6,<2.7'",
    'pyspiel': "'open_spiel>=2.0.2,<2.1'",
    'open_spiel': "'open_spiel>=2.0.2,<2.1'",
    'minatar': "'minatar>=1.0.15,<1.1'",
    'mctx': "'mctx>=0.0.71,<0.1'",
    'Box2D': "'Box2D>=2.3.10,<2.4'",
}


class MissingDependencyError(ImportError):
  """An optional package an adapter needs is not installed."""


def require(module: str, needed_for: str):
  """Imports `module`, or raises MissingDependencyError naming the package to install.

  Args:
    module: the import name, e.g. 'pgx' or 'pyspiel'.
    needed_for: what needs it, e.g. "the environment 'pgx/connect_four'".
  """
  try:
    return importlib.import_module(module)
  except ImportError as error:
    top = module.split('.')[0]
    pip_name = PIP_NAMES.get(top, top)
    raise MissingDependencyError(
        f'{needed_for} needs the optional package {top!r}, which cannot be imported '
        f'({error}). Install it with: pip install {pip_name}  '
        '(or `pip install -e .` in the repository, which installs every adapter '
        'dependency).') from error
