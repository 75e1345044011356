"""The `offline-rl` command line: one entry point, one module per subcommand.

Each subcommand lives in `offline_rl.commands.<name>`, defines its absl flags at import
and a `main(argv)`. Only the chosen subcommand is imported, so `offline-rl data info`
does not pay for importing the learner, and the flags shown by `--help` are its own.

Errors: a documented error (`offline_rl.errors`: a bad dataset, filter, config, flag,
a locked run directory, a file the system refuses) prints one line,
`offline-rl COMMAND: error: MESSAGE`, and exits 1. Anything else is a bug and prints
its traceback; `--traceback` (any command) prints it for documented errors too.
"""
import importlib
import os
import re
import sys
import traceback

from absl import app
from absl import flags

from offline_rl import errors

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
  show_traceback = '--traceback' in argv
  args = [arg for arg in argv[2:] if arg != '--traceback']
  module = importlib.import_module(f'offline_rl.commands.{name}')
  if any(arg in ('-h', '--help', '-help') for arg in args):
    print(_command_help(name, module))
    sys.exit(0)
  try:
    app.run(module.main, argv=[f'offline-rl {name}'] + _shipped_configs(args),
            flags_parser=lambda argv: _parse_flags(name, argv))
  except Exception as error:  # pylint: disable=broad-except
    if show_traceback or not errors.is_user_error(error):
      traceback.print_exc()
    else:
      print(f'offline-rl {name}: error: {errors.one_line(error)}', file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: it joins non-daemon threads, and a library thread left running by
    # the failure (Orbax's async savers) must not keep a failed command alive.
    os._exit(1)  # pylint: disable=protected-access


def _parse_flags(name: str, argv: list[str]) -> list[str]:
  """absl's flag parsing, its errors raised as ConfigError (one line, exit 1)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:  # An unknown flag, or a value of the wrong type.
    raise errors.ConfigError(f'{errors.one_line(error)}. `offline-rl {name} --help` '
                             'lists the flags.') from error
  except (AttributeError, KeyError) as error:  # --config.FIELD names no field.
    raise errors.ConfigError(_unknown_field(str(error), argv)) from error


def _unknown_field(text: str, argv: list[str]) -> str:
  """ml_collections' "'name'\\nDid you mean ..." as a message naming the flag."""
  field = re.match(r'\W*([\w.]+)', text)
  field = field.group(1) if field else ''
  named = [arg.split('=')[0] for arg in argv[1:]
           if arg.startswith('--config.') and arg.split('=')[0].endswith(f'.{field}')]
  suggestion = re.search(r'Did you mean "([\w.]+)"', text)
  hint = f' Did you mean {suggestion.group(1)!r}?' if suggestion else ''
  return (f'{", ".join(named) or field}: no such config field.{hint} The config file '
          'lists the fields.')


def _shipped_configs(args: list[str]) -> list[str]:
  """--config=experiments/X.py[:arg] names the shipped recipe when no such file is here,
  so an installed package runs the same commands as a source checkout."""
  from offline_rl.evaluation import recipe  # pylint: disable=g-import-not-at-top
  out = list(args)
  for i, arg in enumerate(out):
    if arg.startswith('--config='):
      path, sep, rest = arg[len('--config='):].partition(':')
      out[i] = f'--config={recipe.find_config(path)}{sep}{rest}'
    elif arg == '--config' and i + 1 < len(out):
      path, sep, rest = out[i + 1].partition(':')
      out[i + 1] = f'{recipe.find_config(path)}{sep}{rest}'
  return out


def _command_help(name: str, module) -> str:
  """The command's docstring and every flag the project's modules define for it."""
  lines = [f'offline-rl {name}: {COMMANDS[name]}', '', (module.__doc__ or '').strip(), '']
  for owner, owned in sorted(flags.FLAGS.flags_by_module_dict().items()):
    if owner.startswith('offline_rl') or owner.startswith('ml_collections'):
      lines.append(flags.FLAGS.module_help(owner))
  return '\n'.join(lines)
