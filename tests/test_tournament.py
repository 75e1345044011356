"""The tournament runner and report: resumable tournaments, a report whose numbers are
the store's, plots, the HTML page, learning curves, and the commands' bad input."""
import base64
import json
import os
import re

import numpy as np
import pytest

from offline_rl.evaluation import runner
from offline_rl.evaluation import analysis
from offline_rl.evaluation import report
from offline_rl.environments import make
from offline_rl.evaluation import store as store_lib


@pytest.fixture(scope='module')
def duel():
  return make('toy/corridor-v0', length=6, max_steps=20)


@pytest.fixture(scope='module')
def players(duel):
  return runner.players_from_specs(['ladder', 'random'], duel)


def _run(path, duel, players, **kw):
  return runner.run(str(path), duel, players, games_per_match=12, shard_size=4,
                       show_progress=False, **kw)


@pytest.fixture(scope='module')
def finished_store(tmp_path_factory, duel, players):
  path = tmp_path_factory.mktemp('store') / 'results.jsonl'
  assert _run(path, duel, players) == 15 * 3
  return str(path)


def test_interrupted_tournament_gives_the_same_store(tmp_path, duel, players,
                                                     finished_store):
  path = tmp_path / 'resumed.jsonl'
  assert _run(path, duel, players, stop_after=7) == 7
  assert _run(path, duel, players, stop_after=20) == 20
  assert _run(path, duel, players) == 45 - 27
  assert _run(path, duel, players) == 0
  with open(path) as f, open(finished_store) as g:
    assert f.read() == g.read()


def test_players_and_schedules(duel, players):
  names = [p.name for p in players]
  assert names[-1] == 'random' and len(names) == 6
  ladder = [p for p in players if p.info['kind'] == 'bot']
  ratings = [p.info['rating'] for p in ladder]
  assert ratings[0] == 1000.0 and ratings == sorted(ratings)  # Calibrated, weak first.
  assert len(runner.matchups(players, 2)) == 15
  assert runner.matchups(players, 2, 'agents_vs_all') == [
      (n, 'random') for n in names[:-1]]
  assert runner.matchups(players, 1) == [(n,) for n in names]
  named = runner.players_from_specs(['mine=bot:corridor-bot-0.6'], duel)
  assert named[0].name == 'mine' and named[0].policy.policy_id == 'mine'
  with pytest.raises(ValueError, match='not a policy name'):
    runner.players_from_specs(['nonsense:x'], duel)
  with pytest.raises(ValueError, match="Unknown policy 'bot:zz'.*Bots of toy/corridor-v0"):
    runner.players_from_specs(['bot:zz'], duel)
  with pytest.raises(ValueError, match='named'):
    runner.players_from_specs(['ladder', 'bot:corridor-bot-1'], duel)
  with pytest.raises(FileNotFoundError, match='run directory'):
    runner.players_from_specs(['checkpoint:/no/such/run'], duel)


def _md_table(text, heading):
  """Rows of the Markdown table under `### heading` as lists of cells."""
  block = text.split(f'### {heading}\n\n', 1)[1].split('\n\n', 1)[0]
  lines = block.strip().splitlines()[2:]
  return [[c.strip() for c in line.strip('|').split('|')] for line in lines]


def test_report_numbers_match_the_store(tmp_path, finished_store):
  out = report.write(finished_store, str(tmp_path / 'report'),
                     comparisons=[('corridor-bot-0.8', 'corridor-bot-0.4'),
                                  ('random', 'corridor-bot-1')],
                     num_samples=200)
  text = open(out['markdown']).read()
  # Count straight from the raw store lines, independently of analysis.py.
  games, points = {}, {}
  for line in open(finished_store):
    record = json.loads(line)
    if record['type'] != 'games':
      continue
    a, b = record['players']
    for ra, rb in record['returns']:
      for x, y, r in ((a, b, ra - rb), (b, a, rb - ra)):
        games[x] = games.get(x, 0) + 1
        points[(x, y)] = points.get((x, y), 0) + (1.0 if r > 0 else 0.5 if r == 0 else 0)
  assert sum(games.values()) == 2 * 15 * 12
  rows = {r[0]: r for r in _md_table(text, 'Ratings')}
  assert set(rows) == set(games)
  for name, row in rows.items():
    assert int(row[4]) == games[name]
  assert rows['corridor-bot-1'][3] == 'anchor' and rows['corridor-bot-1'][2] == '1000'
  head = {r[0]: r for r in _md_table(text, 'Head to head')}
  row = head['corridor-bot-0.8 vs corridor-bot-0.4']
  assert row[1] == f'{100 * points[("corridor-bot-0.8", "corridor-bot-0.4")] / 12:.0f}%'
  assert row[3] == '12'
  lo, hi = re.findall(r'(\d+)%', row[2])
  assert int(lo) <= int(row[1][:-1]) <= int(hi)
  matrix = _md_table(text, 'Win-rate matrix (row beats column)')
  columns = [cells[0] for cells in sorted(matrix, key=lambda cells: int(cells[1]))]
  for cells in matrix:
    for col, cell in zip(columns, cells[2:]):
      if cell:
        assert cell == f'{100 * points[(cells[0], col)] / 12:.0f}%'
  # Robustness = 1 - the best win rate any other player has against the player.
  for name, row in rows.items():
    best = max(points[(o, name)] / 12 for o in games if o != name)
    assert row[5] == f'{100 * (1 - best):.0f}%'
  # The HTML page is self-contained: every image inlined as a decodable PNG.
  page = open(out['html']).read()
  images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
  assert len(images) == 2 and 'src="http' not in page
  assert all(base64.b64decode(i)[:8] == b'\x89PNG\r\n\x1a\n' for i in images)
  assert '<table>' in page and 'corridor-bot-0.8 vs corridor-bot-0.4' in page
  for key in ('elo_toy_corridor_v0.png', 'winrate_toy_corridor_v0.png'):
    assert open(out[key], 'rb').read(4) == b'\x89PNG'


def test_single_agent_summary_normalises_and_groups(tmp_path):
  solo = make('toy/corridor-v0', length=6, num_players=1, max_steps=12)
  ps = runner.players_from_specs(['ladder', 'random'], solo)
  for p in ps[1:4]:
    p.info['group'] = 'mid'
  path = str(tmp_path / 's.jsonl')
  runner.run(path, solo, ps, games_per_match=40, shard_size=20, show_progress=False,
                env_name='corridor-solo')
  (s,) = analysis.summarize(path, num_samples=200)
  returns = analysis.episode_returns(store_lib.ResultsStore(path).games(), 'corridor-solo')
  for name, values in returns.items():
    assert len(values) == 40 and s.returns[name].value == pytest.approx(values.mean())
  assert s.normalized['random'] == 0 and s.normalized[s.reference] == 100
  group = [s.normalized[p.name] for p in ps[1:4]]
  assert s.groups['mid'].lower <= np.sort(group)[1] <= s.groups['mid'].upper
  out = report.write(path, str(tmp_path / 'r'))
  assert 'IQM across runs' in open(out['markdown']).read()


def test_learning_curves_from_training_logs(tmp_path, finished_store):
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'train.csv').write_text('step,loss,grad_norm\n10,2.0,1\n20,1.5,1\n30,1.0,1\n')
  curves = report.read_training_logs(str(run))
  np.testing.assert_array_equal(curves['train/loss'][1], [2.0, 1.5, 1.0])
  store = store_lib.ResultsStore(finished_store)
  copy = tmp_path / 'with_agent.jsonl'
  copy.write_text(open(finished_store).read())
  store_lib.ResultsStore(str(copy)).append(
      {'type': 'agent', 'name': 'random', 'env': 'toy/corridor-v0', 'kind': 'random',
       'workdir': str(run)})
  out = report.write(str(copy), str(tmp_path / 'report'), num_samples=50)
  assert os.path.exists(out['learning_curves.png'])
  assert '![learning curves](learning_curves.png)' in open(out['markdown']).read()
  del store


def test_report_bad_input(tmp_path):
  with pytest.raises(FileNotFoundError, match='offline-rl tournament'):
    report.write(str(tmp_path / 'none.jsonl'), str(tmp_path / 'r'))
  empty = store_lib.ResultsStore(str(tmp_path / 'empty.jsonl'))
  empty.append({'type': 'agent', 'name': 'x'})
  with pytest.raises(ValueError, match='no games'):
    report.write(empty.path, str(tmp_path / 'r'))


def test_commands_end_to_end(tmp_path):
  """tournament -> report -> evaluate through the `offline-rl` entry point.

  Run in subprocesses: command modules define absl flags, and other commands define
  some of the same names, so they are not imported into the test process.
  """
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  store, out = tmp_path / 'r.jsonl', tmp_path / 'report'
  script = (
      'import sys; from offline_rl import cli\n'
      'for argv in [a.split() for a in sys.argv[1:]]:\n'
      '  try:\n'
      '    cli.run(["offline-rl"] + argv)\n'
      '  except SystemExit as e:\n'
      '    if e.code not in (0, None): print("EXIT", e.code); break\n')
  common = f'--env=toy/corridor-v0 --progress=false --store={store}'
  result = subprocess.run(
      [sys.executable, '-c', script,
       f'tournament {common} --players=ladder,random --games=4 --shard_size=4',
       f'report --store={store} --out={out} --compare=corridor-bot-1:random --bootstrap=50',
       f'evaluate {common} --agent=random --opponents=bot:corridor-bot-0.2 --games=4',
       f'evaluate {common} --agent=bot:nobody'],
      capture_output=True, text=True, timeout=300)
  text = result.stdout + result.stderr
  assert 'ratings (60 games)' in text, text
  assert os.path.exists(out / 'report.html')
  assert 'corridor-bot-1 vs random' in open(out / 'report.md').read()
  assert 'corridor-bot-0.2' in text and 'W / D / L' in text
  assert "EXIT offline-rl evaluate: Unknown policy 'bot:nobody'" in text
