"""The import rules of docs/ARCHITECTURE.md, checked on the source with `ast`.

Every module of the package folders (offline_rl/, agents/, datasets/, environments/,
experiments/) is parsed; every `import` and `from ... import` in it, top-level or
inside a function, must stay within what its layer may import.
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Folders installed as offline_rl subpackages (setup.py's package_dir), and experiments/.
MAPPED = {'agents': 'offline_rl.agents', 'datasets': 'offline_rl.datasets',
          'environments': 'offline_rl.environments',
          'experiments': 'offline_rl.experiments'}

# Layer -> the module prefixes it holds (docs/ARCHITECTURE.md, "Layers and data flow").
LAYERS = {
    'core': ('offline_rl.specs', 'offline_rl.types', 'offline_rl.batch',
             'offline_rl.rollout', 'offline_rl.policies', 'offline_rl.cores',
             'offline_rl.ratings', 'offline_rl.agent', 'offline_rl.configs',
             'offline_rl.errors', 'offline_rl.mcts'),
    'environments': ('offline_rl.environments',),
    'datasets': ('offline_rl.datasets',),
    'data': ('offline_rl.data',),
    'networks': ('offline_rl.networks',),
    # The loss terms every agent sums (offline_rl/losses.py) sit with the agents.
    'agents': ('offline_rl.agents', 'offline_rl.losses'),
    'learner': ('offline_rl.learner',),
    'evaluation': ('offline_rl.evaluation',),
    'experiments': ('offline_rl.experiments',),
    'command line': ('offline_rl.cli', 'offline_rl.commands'),
}
# Layer -> the other layers it may import (docs/ARCHITECTURE.md, "What may import
# what"); every layer may import the core and itself.
_ALL = set(LAYERS)
MAY_IMPORT = {
    'core': set(),
    'environments': set(),
    'datasets': {'environments'},
    'data': {'environments', 'datasets'},
    'networks': set(),
    'agents': {'networks'},
    'learner': {'environments', 'datasets', 'data', 'networks', 'evaluation'},
    'evaluation': {'environments', 'datasets', 'data', 'networks', 'learner'},
    'experiments': _ALL - {'command line'},
    'command line': _ALL,
}

# Imports that break the rules, as (file, imported layer), each with its reason. The
# learner once imported the agents; it now reads the one registry of offline_rl.agent.
# An entry that no longer matches an import fails `test_known_violations_are_still_there`.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def module_name(path: pathlib.Path) -> str:
  """The import name of a source file: agents/bc/losses.py -> offline_rl.agents.bc.losses."""
  parts = list(path.relative_to(ROOT).with_suffix('').parts)
  parts = MAPPED.get(parts[0], parts[0]).split('.') + parts[1:]
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_names(path: pathlib.Path) -> set[str]:
  """Every module (or module attribute) named by an import in the file."""
  names = set()
  package = module_name(path).split('.')
  if path.name != '__init__.py':
    package = package[:-1]
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:  # relative: from the file's package
        base = '.'.join(package[:len(package) - node.level + 1] + [base]).rstrip('.')
      names.update(f'{base}.{alias.name}' for alias in node.names)
  return names


def layer_of(name: str) -> str | None:
  """The layer whose longest prefix matches `name`; None outside the layers."""
  if name == 'offline_rl':  # the root package's __init__ (it imports nothing)
    return 'core'
  best, length = None, -1
  for layer, prefixes in LAYERS.items():
    for prefix in prefixes:
      if (name == prefix or name.startswith(prefix + '.')) and len(prefix) > length:
        best, length = layer, len(prefix)
  return best


def source_files():
  for folder in ('offline_rl', *MAPPED):
    yield from sorted((ROOT / folder).rglob('*.py'))


def import_edges():
  """(file relative to the root, importer layer, imported layer) of every import
  between layers."""
  edges = set()
  for path in source_files():
    importer = layer_of(module_name(path))
    for name in imported_names(path):
      imported = layer_of(name)
      if imported is not None and imported != importer:
        edges.add((path.relative_to(ROOT).as_posix(), importer, imported))
  return edges


def test_every_module_has_a_layer():
  unplaced = [p.relative_to(ROOT).as_posix() for p in source_files()
              if layer_of(module_name(p)) is None]
  unplaced += sorted({n for p in source_files() for n in imported_names(p)
                      if n.startswith('offline_rl.') and layer_of(n) is None})
  assert not unplaced, ('Give these a layer in docs/ARCHITECTURE.md and in LAYERS: '
                        f'{unplaced}')


def test_layers_import_only_what_the_architecture_allows():
  broken = sorted((f, importer, imported) for f, importer, imported in import_edges()
                  if imported != 'core' and imported not in MAY_IMPORT[importer]
                  and (f, imported) not in KNOWN_VIOLATIONS)
  assert not broken, '\n'.join(
      f'{f} ({importer}) imports {imported}, which docs/ARCHITECTURE.md forbids'
      for f, importer, imported in broken)


def test_known_violations_are_still_there():
  found = {(f, imported) for f, _, imported in import_edges()}
  gone = sorted(KNOWN_VIOLATIONS - found)
  assert not gone, f'Fixed: delete these from KNOWN_VIOLATIONS: {gone}'


def test_the_parser_sees_every_kind_of_import():
  """Guards the check itself: top-level, in-function, `from x import module` and
  mapped-folder imports are all seen."""
  edges = import_edges()
  assert ('offline_rl/data/source.py', 'data', 'datasets') in edges  # from x.y import z
  # Inside a function.
  assert ('offline_rl/learner/experiment.py', 'learner', 'data') in edges
  assert ('experiments/bc.py', 'experiments', 'agents') in edges  # mapped folder
  assert layer_of('offline_rl.datasets.reader') == 'datasets'  # not 'data'
  assert module_name(ROOT / 'agents/bc/__init__.py') == 'offline_rl.agents.bc'
