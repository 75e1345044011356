"""`offline-rl skirmish`: ladder printing, bad actions, calibrate and replay end to end."""
import json
import subprocess
import sys

import pytest


def _run(*args, timeout=600):
  entry = 'import sys; from offline_rl.cli import run; run(["offline-rl"] + sys.argv[1:])'
  return subprocess.run([sys.executable, '-c', entry, 'skirmish', *args],
                        capture_output=True, text=True, timeout=timeout)


def test_ladder_prints_each_maps_ratings_and_unknown_action_fails(capsys):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from offline_rl import errors  # pylint: disable=g-import-not-at-top
  from offline_rl.commands import skirmish  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(['offline-rl skirmish'])
  saved = flags.FLAGS.size
  try:
    for size in (8, 16):
      flags.FLAGS.size = size
      skirmish.main(['offline-rl skirmish', 'ladder'])
      out = capsys.readouterr().out
      assert 'Ladder (weak to strong)' in out and '95% CI' in out
      assert f'skirmish/{size}x{size}' in out
    flags.FLAGS.size = 32
    with pytest.raises(errors.UserError, match='No calibrated ladder for skirmish/32x32'):
      skirmish.main(['offline-rl skirmish', 'ladder'])
  finally:
    flags.FLAGS.size = saved
  with pytest.raises(SystemExit, match="unknown action 'dance'; known actions: calibrate"):
    skirmish.main(['offline-rl skirmish', 'dance'])


@pytest.mark.slow
def test_calibrate_and_replay_end_to_end(tmp_path):
  output = tmp_path / 'ladder.json'
  out = _run('calibrate', '--size=8', '--games_per_pair=2', '--pool=rush-0,rush-7,harass-3',
             '--bootstrap=10', f'--output={output}')
  assert out.returncode == 0, out.stderr
  record = json.loads(output.read_text())
  assert record['env_id'] == 'skirmish/8x8' and len(record['ratings']) == 3
  assert 'Ladder (weak to strong)' in out.stdout
  html, npz = tmp_path / 'game.html', tmp_path / 'game.npz'
  out = _run('replay', '--size=8', '--bot0=rush-7', '--bot1=rush-0', f'--output={html}',
             f'--save_record={npz}')
  assert out.returncode == 0, out.stderr
  again = tmp_path / 'again.html'
  out = _run('replay', f'--record={npz}', f'--output={again}')
  assert out.returncode == 0, out.stderr
  assert html.read_text().split('const DATA')[1] == again.read_text().split('const DATA')[1]
