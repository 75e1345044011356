"""The `offline-rl` command line: one entry point, one module per subcommand.

Each subcommand lives in `offline_rl.commands.<name>`, defines its absl flags at import
and a `main(argv)`. Only the chosen subcommand is imported, so `offline-rl data info`
does not pay for importing the learner, and the flags shown by `--help` are its own.
"""
import importlib
import sys

from absl import app
from absl import flags

COMMANDS = {
    'data': 'Record, inspect, convert and describe RLDS datasets.',
    'skirmish': 'The built-in strategy game: calibrate bots, watch replays.',
    'train': 'Train an agent from a config in experiments/.',
    'evaluate': 'Evaluate an agent against bots, or its return.',
    'tournament': 'Play agents and bots against each other; fit Elo ratings.',
    'report': 'Tables, plots and an HTML page from a results store.',
    'demo': 'The Unplugged recipe on the built-in game, end to end.',
}


def _usage() -> str:
  lines = ['usage: offline-rl COMMAND [flags]', '', 'commands:']
  lines += [f'  {name:<11} {text}' for name, text in COMMANDS.items()]
  lines += ['', 'offline-rl COMMAND --help shows the flags of one command.']
  return '\n'.join(lines)


def run(argv=None):
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] in ('-h', '--help', 'help'):
    print(_usage())
    sys.exit(0 if len(argv) >= 2 else 2)
  name = argv[1]
  if name not in COMMANDS:
    print(f'offline-rl: unknown command {name!r}.\n\n{_usage()}', file=sys.stderr)
    sys.exit(2)
  module = importlib.import_module(f'offline_rl.commands.{name}')
  if any(arg in ('-h', '--help', '-help') for arg in argv[2:]):
    print(_command_help(name, module))
    sys.exit(0)
  app.run(module.main, argv=[f'offline-rl {name}'] + argv[2:])


def _command_help(name: str, module) -> str:
  """The command's docstring and every flag the project's modules define for it."""
  lines = [f'offline-rl {name}: {COMMANDS[name]}', '', (module.__doc__ or '').strip(), '']
  for owner, owned in sorted(flags.FLAGS.flags_by_module_dict().items()):
    if owner.startswith('offline_rl') or owner.startswith('ml_collections'):
      lines.append(flags.FLAGS.module_help(owner))
  return '\n'.join(lines)
