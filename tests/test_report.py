"""The report's layout: the HTML page fits 1280 px, terminal tables keep whole names.

A results store of 16 players (the Unplugged table's size: 8 ladder bots, 8 agents)
with long names, written straight to the store, so no game is played here.
"""
import io
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from offline_rl.evaluation import analysis
from offline_rl.evaluation import report
from offline_rl.evaluation import store as store_lib

BOTS = ['bot/random', 'bot/harass-1', 'bot/defensive-3', 'bot/defensive-5', 'bot/rush-5',
        'bot/harass-6', 'bot/harass-7', 'bot/defensive-7']
AGENTS = ['bc', 'ftbc', 'oac', 'eoac', 'mzs', 'mzs-mcts', 'iql', 'cql']
PLAYERS = BOTS + AGENTS
GAMES = 8


@pytest.fixture(scope='module')
def written(tmp_path_factory):
  """(store, report paths) for 16 players, weakest first in PLAYERS, 8 games a pair."""
  directory = tmp_path_factory.mktemp('report')
  store = store_lib.ResultsStore(str(directory / 'results.jsonl'))
  rng = np.random.default_rng(0)
  strength = np.linspace(-3, 3, len(PLAYERS))
  lines = [{'type': 'agent', 'name': p, 'env': 'skirmish/8x8',
            'kind': 'bot' if p in BOTS else 'agent',
            **({'rating': 600.0 + 100 * i} if p in BOTS else {})}
           for i, p in enumerate(PLAYERS)]
  for i, a in enumerate(PLAYERS):
    for j in range(i + 1, len(PLAYERS)):
      win = rng.random(GAMES) < 1 / (1 + np.exp(strength[j] - strength[i]))
      lines.append({'type': 'games', 'id': f'{i}-{j}', 'env': 'skirmish/8x8',
                    'players': [a, PLAYERS[j]], 'seed': 0, 'first_game': 0,
                    'returns': [[1.0, -1.0] if w else [-1.0, 1.0] for w in win],
                    'lengths': [10] * GAMES, 'terminal': [True] * GAMES,
                    'swapped': [False] * GAMES})
  store.append(*lines)
  paths = report.write(store, str(directory / 'out'), comparisons=[('ftbc', 'bc')],
                       num_samples=20)
  return store, paths


def test_terminal_tables_at_80_columns_keep_every_name_whole(written):
  store, _ = written
  from rich import console as rich_console  # pylint: disable=g-import-not-at-top
  out = io.StringIO()
  report.print_summaries(
      analysis.summarize(store, comparisons=[('ftbc', 'bc')], num_samples=20),
      rich_console.Console(file=out, width=80))
  text = out.getvalue()
  assert max(len(line) for line in text.splitlines()) <= 80
  assert '…' not in text
  first_column = {line.split('│')[1].strip() for line in text.splitlines()
                  if line.startswith('│')}
  assert set(PLAYERS) <= first_column and 'ftbc vs bc' in first_column


def test_win_rate_matrix_columns_are_numbered_by_its_rows(written):
  store, paths = written
  text = open(paths['markdown']).read()
  block = text.split('### Win-rate matrix (row beats column)\n\n')[1].split('\n\n')[0]
  lines = block.splitlines()
  header = [c.strip() for c in lines[0].strip('|').split('|')]
  rows = [[c.strip() for c in line.strip('|').split('|')] for line in lines[2:]]
  assert header == ['row beats column', '#'] + [str(k) for k in range(1, 17)]
  assert [int(r[1]) for r in rows] == list(range(1, 17))
  assert {r[0] for r in rows} == set(PLAYERS)
  games = [g for g in store.games()]
  for a, row in enumerate(rows):
    for b, cell in enumerate(row[2:]):
      if a == b:
        assert cell == ''
        continue
      x, y = row[0], rows[b][0]
      (record,) = [g for g in games if set(g['players']) == {x, y}]
      wins = sum((r[0] > r[1]) == (record['players'][0] == x) for r in record['returns'])
      assert cell == f'{100 * wins / GAMES:.0f}%', (x, y)


def _chromium():
  return shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.mark.skipif(_chromium() is None,
                    reason='needs Debian chromium: apt-get install -y chromium')
def test_html_report_fits_a_1280_px_window(written, tmp_path):
  """Chromium lays the page out at 1280 px; a script then measures every table and
  image against the page's width and writes the numbers into the DOM it dumps."""
  _, paths = written
  page = open(paths['html']).read()
  measure = ('<script>const w=document.documentElement.clientWidth;'
             'const right=Math.max(...[...document.querySelectorAll("table,img")].map('
             'e=>e.getBoundingClientRect().right));document.body.setAttribute("data-fit",'
             '`${w} ${document.documentElement.scrollWidth} ${Math.ceil(right)}`);'
             '</script></body>')
  probe = tmp_path / 'probe.html'
  probe.write_text(page.replace('</body>', measure))
  with tempfile.TemporaryDirectory() as profile:
    dom = subprocess.run(
        [_chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', f'--user-data-dir={profile}', '--window-size=1280,900',
         '--dump-dom', f'file://{probe}'],
        check=True, timeout=120, capture_output=True, text=True).stdout
  width, scroll, right = map(int, re.search(r'data-fit="(\d+) (\d+) (\d+)"', dom).groups())
  assert 1200 <= width <= 1280  # The window's width, less a scroll bar.
  assert scroll <= width and right <= width, (width, scroll, right)


def test_learning_curves_draw_the_validation_loss_beside_the_training_loss(tmp_path):
  """A run that logged validation_* columns gets them dashed in its training metric's
  panel; a run without them keeps one line; no panel is a validation metric."""
  runs = {'bc': 'step,loss,validation_loss,action/accuracy,validation_action/accuracy\n'
                '10,2.0,2.2,0.3,0.25\n20,1.5,1.9,0.4,0.3\n',
          'ftbc': 'step,loss,action/accuracy\n10,1.4,0.4\n20,1.2,0.5\n'}
  logs = {}
  for name, text in runs.items():
    (tmp_path / name).mkdir()
    (tmp_path / name / 'train.csv').write_text(text)
    logs[name] = report.read_training_logs(str(tmp_path / name))
  panels = report.plot_learning_curves(logs, str(tmp_path / 'curves.png'))
  assert panels == {'train/action/accuracy': ['bc', 'bc (validation)', 'ftbc'],
                    'train/loss': ['bc', 'bc (validation)', 'ftbc']}
  assert (tmp_path / 'curves.png').stat().st_size > 0


def _games(a, b, wins, total, key):
  return {'type': 'games', 'id': key, 'env': 'skirmish/8x8', 'players': [a, b], 'seed': 0,
          'first_game': 0, 'returns': [[1.0, -1.0]] * wins + [[-1.0, 1.0]] * (total - wins),
          'lengths': [10] * total, 'terminal': [True] * total, 'swapped': [False] * total}


def test_seeds_pool_into_agents_and_a_claim_must_hold_across_seeds(tmp_path):
  """Three seeds of agents a, c, e. c beats a in 90%, 90% and 10% of 40 games a seed:
  63% of the pooled games, whose interval alone excludes 50%; the report must not call
  it a win, since one seed of three says the opposite. e beats a 75% on every seed."""
  from offline_rl import ratings  # pylint: disable=g-import-not-at-top
  store = store_lib.ResultsStore(str(tmp_path / 'results.jsonl'))
  lines = [{'type': 'agent', 'name': b, 'env': 'skirmish/8x8', 'kind': 'bot',
            'rating': r} for b, r in (('b1', 900.0), ('b2', 1100.0))]
  lines.append(_games('b1', 'b2', 10, 40, 'bots'))
  for seed in range(3):
    for agent in ('a', 'c', 'e'):
      name = f'{agent}/s{seed}'
      lines.append({'type': 'agent', 'name': name, 'env': 'skirmish/8x8', 'kind': 'agent',
                    'group': agent, 'seed': seed})
      lines += [_games(name, b, 20, 40, f'{name}-{b}') for b in ('b1', 'b2')]
    lines.append(_games(f'c/s{seed}', f'a/s{seed}', (36, 36, 4)[seed], 40, f'ca{seed}'))
    lines.append(_games(f'e/s{seed}', f'a/s{seed}', 30, 40, f'ea{seed}'))
  store.append(*lines)
  summary, = analysis.summarize(store, comparisons=[('c', 'a'), ('e', 'a')],
                                num_samples=2000)
  ca, ea = summary.seed_comparisons
  assert ca.games == 120 and ca.win_rate == pytest.approx(76 / 120) and ca.win_lower > 0.5
  np.testing.assert_allclose(ca.seed_rates, [0.9, 0.9, 0.1])
  assert ca.seed_lower < 0.5 and ca.verdict == 'not separated at this confidence'
  assert ea.verdict == 'e beats a' and ea.seed_lower > 0.5
  # Pooled Elo: the seeds' games counted as one player's; per seed: the full fit's.
  counts = analysis.pair_counts(store.games(), 'skirmish/8x8')
  merged = ratings.merge_players(counts, {f'{a}/s{s}': a for a in 'ace' for s in range(3)})
  assert sorted(merged.names) == ['a', 'b1', 'b2', 'c', 'e']
  assert merged.games[merged.index('c'), merged.index('a')] == 120
  pooled = dict(zip(merged.names, ratings.fit(merged, 'b2')))
  per_seed = dict(zip(counts.names, ratings.fit(counts, 'b2')))
  agents = {g.name: g for g in summary.agents}
  assert agents['c'].elo == pytest.approx(pooled['c'], abs=1e-6)
  np.testing.assert_allclose(agents['c'].seed_elos, [per_seed[f'c/s{s}'] for s in range(3)])
  assert agents['c'].vs_games == 120 and agents['c'].vs_reference == pytest.approx(0.5)
  assert summary.seeds_text == '3 training seeds an agent'
  paths = report.write(store, str(tmp_path / 'out'), comparisons=[('c', 'a'), ('e', 'a')],
                       num_samples=200, goal_vs_reference=0.6, paper_order=('e', 'c', 'a'))
  table = open(paths['table']).read()
  assert '| c vs a | 63% |' in table and 'e beats a: **holds**' in table
  assert 'c beats a: **not shown**' in table
  assert re.search(r'The best agent \(\w+, Elo -?\d+\) beats the strongest bot \(b2\) in at '
                   r'least 60% of games: \*\*missed\*\* \(50%', table)


def test_hierarchical_interval_with_one_seed_is_the_game_bootstrap():
  rng = np.random.default_rng(0)
  draws = rng.normal(size=(1, 4000))
  lo, hi = analysis.hierarchical_interval(draws, 0.95, rng)
  expected = np.percentile(draws[0], [2.5, 97.5])
  np.testing.assert_allclose([lo, hi], expected)


def test_paste_table_replaces_only_the_marked_part(tmp_path):
  table = tmp_path / 'table.md'
  table.write_text('| agent |\n|---|\n| bc |\n')
  readme = tmp_path / 'README.md'
  readme.write_text(f'# x\n\nbefore\n{report.TABLE_BEGIN}\nold table\n{report.TABLE_END}\nafter\n')
  report.paste_table(str(table), str(readme), 'Made by a run.')
  report.paste_table(str(table), str(readme), 'Made by a run.')  # Idempotent.
  assert readme.read_text() == (f'# x\n\nbefore\n{report.TABLE_BEGIN}\nMade by a run.\n\n'
                                f'| agent |\n|---|\n| bc |\n{report.TABLE_END}\nafter\n')
  readme.write_text('no markers')
  with pytest.raises(ValueError, match='has no place for the table'):
    report.paste_table(str(table), str(readme), '')
