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
