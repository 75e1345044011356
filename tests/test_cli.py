"""The `offline-rl` entry point: usage, unknown commands, and each command's --help."""
import subprocess
import sys


def _cli(*args):
  return subprocess.run([sys.executable, '-c', 'import sys; from offline_rl import cli; cli.run(["offline-rl"] + sys.argv[1:])',
                         *args], capture_output=True, text=True, timeout=120)


def test_usage_lists_commands_and_unknown_command_fails():
  out = _cli('help')
  assert out.returncode == 0 and 'tournament' in out.stdout and 'demo' in out.stdout
  bad = _cli('trian')
  assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr


def test_command_help_lists_its_flags():
  out = _cli('data', '--help')
  assert out.returncode == 0
  assert '--matchup' in out.stdout and '--num_episodes' in out.stdout


def test_commands_share_flags_without_clashes_or_order_dependent_defaults():
  """Every flag name is defined once, so commands import side by side in any order."""
  script = ('from absl import flags\n'
            'from offline_rl.commands import tournament, skirmish, data, evaluate, report, train\n'
            'print(flags.FLAGS["env"].default, flags.FLAGS["bootstrap"].default)')
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 0, out.stderr
  assert out.stdout.split() == ['None', '1000']
  record = _cli('data', 'record', '/tmp/never-written', '--matchup=random')
  assert record.returncode == 1 and 'Give --env, one of:' in record.stderr
