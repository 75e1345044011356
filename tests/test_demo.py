"""The demo recipe (`make demo`) end to end at tiny sizes, and its resumption.

The fast tests run the tiny recipe (record, BC and FT-BC over two training seeds,
tournament, report) on the toy Corridor, whose programs compile in about a second,
then add OAC, MZS, MZS-MCTS and a checkpoint to it; the whole tiny recipe (eight agents,
two seeds) on Skirmish compiles dozens of Skirmish-sized programs, which takes many
minutes on two cores, so it is marked slow.
"""
import json
import os
import re

import pytest
from ml_collections import config_dict

from offline_rl import ratings
from offline_rl.evaluation import recipe
from offline_rl.evaluation import report


def _tiny_config(workdir, env='toy/corridor-v0', agents=('bc', 'ftbc')):
  """The tiny recipe with `agents` of its list (every agent: None) on `env`."""
  config = recipe.load_config_file('experiments/unplugged.py:tiny')
  config.workdir = str(workdir)
  config.progress = False
  config.compilation_cache = False
  if env:
    config.env = env
  if agents:
    config.agents = [a for a in config.agents if a.name in agents]
    config.report.comparisons = [c for c in config.report.comparisons
                                 if set(c.split(':')) <= set(agents)]
  return config


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  config = _tiny_config(tmp_path_factory.mktemp('demo'))
  return config, recipe.run(config, log=lambda *_: None)


def _stamp(workdir, agent, seed):
  return json.load(open(os.path.join(workdir, 'agents', agent, f's{seed}', recipe.STAMP)))


def test_tiny_recipe_runs_end_to_end(finished):
  config, outcome = finished
  seeds = list(config.seeds)
  assert len(seeds) == 2
  text = open(outcome.report['markdown']).read()
  # The comparison says whether FT-BC beats BC over both seeds, with both intervals.
  row = _md_rows(text, 'Comparisons across seeds')['ftbc vs bc']
  assert row[3] == str(len(seeds) * config.tournament.agent_games)
  assert row[2].startswith('[') and len(row[4].split()) == len(seeds) and row[7]
  agents = _md_rows(text, 'Agents across seeds')
  assert set(agents) == {'bc', 'ftbc'} and agents['bc'][1] == str(len(seeds))
  assert '2 training seeds' in text
  lines = [json.loads(l) for l in open(os.path.join(outcome.workdir, 'results.jsonl'))]
  names = {l['name'] for l in lines if l['type'] == 'agent'}
  assert {f'{a}/s{s}' for a in ('bc', 'ftbc') for s in seeds} <= names
  assert len(names) >= 4 + 5
  for key in ('html', 'learning_curves.png', 'table'):
    assert os.path.exists(outcome.report[key])
  assert open(outcome.report['table']).read().count('| ftbc |') == 1
  # Each seed's FT-BC trained on the top-rated part only, from the same seed's BC.
  for seed in seeds:
    stamp, bc_stamp = _stamp(outcome.workdir, 'ftbc', seed), _stamp(outcome.workdir, 'bc', seed)
    assert stamp['settings']['seed'] == bc_stamp['settings']['seed'] == seed
    assert stamp['settings']['filters'].startswith('rating>=')
    assert stamp['settings']['init_from'].endswith(os.path.join('agents', 'bc', f's{seed}'))
    assert stamp['episodes'] < bc_stamp['episodes']


def _md_rows(text, heading):
  """{first cell: cells} of the Markdown table under `### heading`."""
  block = text.split(f'### {heading}\n\n', 1)[1].split('\n\n', 1)[0]
  rows = [[c.strip() for c in line.strip('|').split('|')]
          for line in block.strip().splitlines()[2:]]
  return {row[0]: row for row in rows}


def test_the_report_states_what_the_store_holds(finished):
  """The report's verdict, win rates and ratings are the ones the results store gives.

  Recounted from the raw store lines and refitted with offline_rl.ratings, so a report
  that swaps players, mixes up seeds, miscounts games or mislabels the better agent
  fails here.
  """
  config, outcome = finished
  text = open(outcome.report['markdown']).read()
  outcomes = []
  for line in open(os.path.join(outcome.workdir, 'results.jsonl')):
    record = json.loads(line)
    if record['type'] == 'games':
      a, b = record['players']
      outcomes += [(a, b, 1.0 if ra > rb else 0.5 if ra == rb else 0.0)
                   for ra, rb in record['returns']]

  def rate(a, b):
    head = [(x, s) for x, y, s in outcomes if {x, y} == {a, b}]
    return sum(s if x == a else 1 - s for x, s in head) / len(head), len(head)

  per_seed = [rate(f'ftbc/s{s}', f'bc/s{s}') for s in config.seeds]
  pooled = sum(r * n for r, n in per_seed) / sum(n for _, n in per_seed)
  row = _md_rows(text, 'Comparisons across seeds')['ftbc vs bc']
  assert row[1] == f'{100 * pooled:.0f}%' and int(row[3]) == sum(n for _, n in per_seed)
  assert row[4].split() == [f'{100 * r:.0f}%' for r, _ in per_seed]
  mean = sum(r for r, _ in per_seed) / len(per_seed)
  assert row[5].startswith(f'{100 * mean:.0f}% [')
  lo, hi = (int(x) / 100 for x in re.findall(r'(-?\d+)%', row[5])[1:])
  verdict = row[7]
  if verdict == 'ftbc beats bc':
    assert mean > 0.5 and lo > 0.5
  elif verdict == 'bc beats ftbc':
    assert mean < 0.5 and hi < 0.5
  else:
    assert verdict == 'not separated at this confidence' and lo <= 0.5 <= hi
  # Ratings: the anchor the report names, refitted from the same games, per seed...
  anchor = re.search(r'anchored at (\S+) = 1000', text).group(1)
  counts = ratings.counts_from_outcomes(outcomes)
  fitted = dict(zip(counts.names, ratings.fit(counts, anchor)))
  table = _md_rows(text, 'Ratings')
  assert set(table) == set(fitted)
  for name, cells in table.items():
    assert int(cells[2]) == round(fitted[name]), (name, cells)
  listed = [float(cells[2]) for cells in table.values()]
  assert listed == sorted(listed, reverse=True)  # Strongest first.
  # ... and with each agent's seeds pooled into one player.
  agent = lambda n: n.split('/s')[0] if n.split('/s')[0] in ('bc', 'ftbc') else n
  pooled_counts = ratings.counts_from_outcomes(
      [(agent(a), agent(b), s) for a, b, s in outcomes])
  pooled_fit = dict(zip(pooled_counts.names, ratings.fit(pooled_counts, anchor)))
  agents = _md_rows(text, 'Agents across seeds')
  for name in ('bc', 'ftbc'):
    assert int(agents[name][2]) == round(pooled_fit[name])
    assert agents[name][4].split() == [str(round(fitted[f'{name}/s{s}']))
                                       for s in config.seeds]
  assert int(row[6].split()[0]) == round(pooled_fit['ftbc'] - pooled_fit['bc'])


def test_agents_join_by_configuration_alone(finished):
  """OAC (from BC, distilling towards it), MZS and MZS-MCTS on MZS's params, and a
  checkpoint join the finished recipe; one seed of it is reused as it stands."""
  config, first = finished
  tiny = {a.name: a for a in _tiny_config(first.workdir, agents=None).agents}
  config = config.copy_and_resolve_references()
  config.seeds = [0]
  bc_run = os.path.join(first.workdir, 'agents', 'bc', 's0')
  # A new list: the copy shares the fixture's list of agents.
  config.agents = list(config.agents) + [tiny['oac'], tiny['mzs'], tiny['mzs_mcts'],
                                         config_dict.ConfigDict(dict(
      name='bc_copy', config='', overrides={}, init_from='', top_fraction=0.0,
      checkpoint=bc_run))]
  config.report.comparisons = ['ftbc:bc', 'oac:bc', 'mzs_mcts:mzs']
  outcome = recipe.run(config, log=lambda *_: None)
  stages = outcome.stages
  assert stages['record'] == stages['train bc/s0'] == stages['train ftbc/s0'] == 'reused'
  assert stages['train oac/s0'] == 'trained to step 10 on 13 episodes'
  assert stages['train mzs_mcts/s0'] == "plays mzs's params"
  assert stages['train bc_copy/s0'] == 'loaded'
  saved = json.load(open(os.path.join(first.workdir, 'agents', 'oac', 's0', 'config.json')))
  assert saved['teacher'] == saved['init_from'] == bc_run
  assert not os.path.exists(os.path.join(first.workdir, 'agents', 'mzs_mcts'))
  records = {r['name']: r for r in map(json.loads, open(os.path.join(first.workdir,
                                                                     'results.jsonl')))
             if r['type'] == 'agent'}
  mcts = records['mzs_mcts/s0']
  assert mcts['params_from'] == 'mzs/s0' and 'workdir' not in mcts
  text = open(outcome.report['markdown']).read()
  # The store keeps the fixture's second seed: BC and FT-BC have two, the new ones one.
  agents = _md_rows(text, 'Agents across seeds')
  assert [agents[a][1] for a in ('bc', 'oac', 'mzs_mcts', 'bc_copy')] == ['2', '1', '1', '1']
  assert '1-2 training seeds an agent' in text
  rows = _md_rows(text, 'Comparisons across seeds')
  assert rows['oac vs bc'][3] == str(config.tournament.agent_games)
  assert len(rows['ftbc vs bc'][4].split()) == 2 and 'mzs_mcts vs mzs' in rows
  assert '| bc_copy/s0 | agent |' in text
  # MZS-MCTS must act with MZS's network: another network is refused, by name.
  mcts = recipe.training_config(tiny['mzs_mcts'], 'unused', [], {}, 0)
  mcts.network.mlp_sizes = (8,)
  with pytest.raises(recipe.RecipeError, match='its network differs'):
    recipe.acting_policy(mcts, os.path.join(first.workdir, 'agents', 'mzs', 's0'))
  config.agents[2].teacher = 'oac'
  with pytest.raises(recipe.RecipeError, match="teacher='oac' is not an earlier agent"):
    recipe.run(config, log=lambda *_: None)


def test_rerun_reuses_finished_stages_and_refuses_changed_ones(finished):
  config, first = finished
  store = os.path.join(first.workdir, 'results.jsonl')
  before = open(store).read()
  readme = os.path.join(first.workdir, 'README.md')
  with open(readme, 'w') as f:
    f.write(f'# Mine\n{report.TABLE_BEGIN}\n{report.TABLE_END}\n')
  config = config.copy_and_resolve_references()
  config.report.paste_into = (readme,)
  again = recipe.run(config, log=lambda *_: None)
  pasted = open(readme).read()
  assert 'Made by `offline-rl demo --config=experiments/unplugged.py:tiny`' in pasted
  assert open(again.report['table']).read().strip() in pasted
  assert again.stages['record'] == 'reused'
  assert {again.stages[f'train {a}/s{s}'] for a in ('bc', 'ftbc') for s in config.seeds
          } == {'reused'}
  assert again.stages['tournament'] == '0 shards played'
  assert open(store).read() == before
  config.agents[0].overrides.num_steps = 999
  with pytest.raises(recipe.RecipeError, match='other settings'):
    recipe.run(config, log=lambda *_: None)


def test_recipe_bad_input(tmp_path):
  config = _tiny_config(tmp_path)
  config.agents[1].init_from = 'nobody'
  config.agents = [config.agents[1]]
  with pytest.raises(recipe.RecipeError, match='not an earlier agent'):
    recipe.run(config, log=lambda *_: None)
  config = _tiny_config(tmp_path)
  config.report.comparisons = ['ftbc:oac']
  with pytest.raises(recipe.RecipeError, match="A:B pairs of agent names.*'ftbc:oac'"):
    recipe.run(config, log=lambda *_: None)
  config = _tiny_config(tmp_path)
  config.seeds = [0, 0]
  with pytest.raises(recipe.RecipeError, match='distinct training seeds'):
    recipe.run(config, log=lambda *_: None)
  config = _tiny_config(tmp_path)
  config.agents[0].checkpoint = str(tmp_path)
  with pytest.raises(recipe.RecipeError, match='loads one checkpoint, but the recipe '
                     'trains 2 seeds'):
    recipe.run(config, log=lambda *_: None)
  with pytest.raises(ValueError, match='variants small, tiny, table, full'):
    recipe.load_config_file('experiments/unplugged.py:huge')


@pytest.mark.slow
def test_tiny_recipe_on_skirmish(tmp_path):
  """The whole tiny recipe, every agent and both seeds, on the game it is made for."""
  config = _tiny_config(tmp_path, env=None, agents=None)
  assert config.env.startswith('skirmish/')
  outcome = recipe.run(config, log=lambda *_: None)
  text = open(outcome.report['markdown']).read()
  rows = _md_rows(text, 'Comparisons across seeds')
  assert set(rows) == {c.replace(':', ' vs ') for c in config.report.comparisons}
  assert len(_md_rows(text, 'Agents across seeds')) == 8 and f'## {config.env}' in text
