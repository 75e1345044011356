"""The demo recipe (`make demo`) end to end at tiny sizes, and its resumption.

The fast tests run the whole tiny recipe (record, BC, FT-BC, tournament, report) on the
toy Corridor, whose programs compile in about a second; the same recipe on Skirmish
compiles seven Skirmish-sized programs (recording, two learners, the tournament's
matchup kinds), which takes minutes on two cores, so it is marked slow.
"""
import json
import os
import re

import pytest
from ml_collections import config_dict

from offline_rl import ratings
from offline_rl.evaluation import recipe


def _tiny_config(workdir, env='toy/corridor-v0'):
  config = recipe.load_config_file('experiments/unplugged.py:tiny')
  config.workdir = str(workdir)
  config.progress = False
  config.compilation_cache = False
  if env:
    config.env = env
  return config


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  config = _tiny_config(tmp_path_factory.mktemp('demo'))
  return config, recipe.run(config, log=lambda *_: None)


def test_tiny_recipe_runs_end_to_end(finished):
  config, outcome = finished
  text = open(outcome.report['markdown']).read()
  # The head-to-head row says whether FT-BC beats BC, with its interval and games.
  row = next(line for line in text.splitlines() if line.startswith('| ftbc vs bc |'))
  cells = [c.strip() for c in row.strip('|').split('|')]
  assert cells[3] == str(config.tournament.agent_games)
  assert cells[2].startswith('[') and cells[7]
  lines = [json.loads(l) for l in open(os.path.join(outcome.workdir, 'results.jsonl'))]
  names = {l['name'] for l in lines if l['type'] == 'agent'}
  assert {'bc', 'ftbc'} <= names and len(names) >= 4
  assert os.path.exists(outcome.report['html'])
  assert os.path.exists(outcome.report['learning_curves.png'])
  # FT-BC trained on the top-rated part only, starting from BC.
  stamp = json.load(open(os.path.join(outcome.workdir, 'agents', 'ftbc', recipe.STAMP)))
  assert stamp['settings']['filters'].startswith('rating>=')
  assert stamp['settings']['init_from'].endswith(os.path.join('agents', 'bc'))
  bc_stamp = json.load(open(os.path.join(outcome.workdir, 'agents', 'bc', recipe.STAMP)))
  assert stamp['episodes'] < bc_stamp['episodes']


def _md_rows(text, heading):
  """{first cell: cells} of the Markdown table under `### heading`."""
  block = text.split(f'### {heading}\n\n', 1)[1].split('\n\n', 1)[0]
  rows = [[c.strip() for c in line.strip('|').split('|')]
          for line in block.strip().splitlines()[2:]]
  return {row[0]: row for row in rows}


def test_the_report_states_what_the_store_holds(finished):
  """The report's verdict, win rate and ratings are the ones the results store gives.

  Recounted from the raw store lines and refitted with offline_rl.ratings, so a report
  that swaps players, miscounts games or mislabels the better agent fails here.
  """
  _, outcome = finished
  text = open(outcome.report['markdown']).read()
  outcomes = []
  for line in open(os.path.join(outcome.workdir, 'results.jsonl')):
    record = json.loads(line)
    if record['type'] == 'games':
      a, b = record['players']
      outcomes += [(a, b, 1.0 if ra > rb else 0.5 if ra == rb else 0.0)
                   for ra, rb in record['returns']]
  head = [(a, s) for a, b, s in outcomes if {a, b} == {'ftbc', 'bc'}]
  ftbc_rate = sum(s if a == 'ftbc' else 1 - s for a, s in head) / len(head)
  row = _md_rows(text, 'Head to head')['ftbc vs bc']
  assert row[1] == f'{100 * ftbc_rate:.0f}%' and int(row[3]) == len(head)
  lo, hi = (int(x) / 100 for x in re.findall(r'(\d+)%', row[2]))
  verdict = row[7]
  if verdict == 'ftbc beats bc':
    assert ftbc_rate > 0.5 and lo > 0.5
  elif verdict == 'bc beats ftbc':
    assert ftbc_rate < 0.5 and hi < 0.5
  else:
    assert verdict == 'not separated at this confidence' and lo <= 0.5 <= hi
  # Ratings: the anchor the report names, refitted from the same games.
  anchor = re.search(r'anchored at (\S+) = 1000', text).group(1)
  counts = ratings.counts_from_outcomes(outcomes)
  fitted = dict(zip(counts.names, ratings.fit(counts, anchor)))
  table = _md_rows(text, 'Ratings')
  assert set(table) == set(fitted)
  for name, cells in table.items():
    assert int(cells[2]) == round(fitted[name]), (name, cells)
  listed = [float(cells[2]) for cells in table.values()]
  assert listed == sorted(listed, reverse=True)  # Strongest first.
  assert int(row[4]) == round(fitted['ftbc'] - fitted['bc'])


def test_an_agent_joins_by_configuration_alone(finished):
  config, first = finished
  config = config.copy_and_resolve_references()
  bc_run = os.path.join(first.workdir, 'agents', 'bc')
  # A new list: the copy shares the fixture's list of agents.
  config.agents = list(config.agents) + [config_dict.ConfigDict(dict(
      name='bc_copy', config='', overrides={}, init_from='', top_fraction=0.0,
      checkpoint=bc_run))]
  outcome = recipe.run(config, log=lambda *_: None)
  assert outcome.stages['record'] == 'reused' and outcome.stages['train bc'] == 'reused'
  assert outcome.stages['train bc_copy'] == 'loaded'
  assert outcome.stages['tournament'] != '0 shards played'
  text = open(outcome.report['markdown']).read()
  assert '| bc_copy | agent |' in text


def test_a_value_agent_distils_towards_an_earlier_agent(finished):
  config, first = finished
  config = config.copy_and_resolve_references()
  config.agents = list(config.agents) + [config_dict.ConfigDict(dict(
      name='oac', config='experiments/oac.py:oac',
      overrides=dict(num_steps=10, batch_size=8, unroll_length=4, updates_per_call=10,
                     log_every=10, checkpoint_every=10, eval_every=0,
                     network=config.agents[0].overrides.network),
      init_from='bc', teacher='bc', top_fraction=0.0, checkpoint=''))]
  config.report.comparisons = ['oac:bc']
  outcome = recipe.run(config, log=lambda *_: None)
  assert outcome.stages['train bc'] == 'reused'
  assert outcome.stages['train oac'] == 'trained to step 10 on 48 episodes'
  bc_run = os.path.join(first.workdir, 'agents', 'bc')
  saved = json.load(open(os.path.join(first.workdir, 'agents', 'oac', 'config.json')))
  assert saved['teacher'] == saved['init_from'] == bc_run
  assert '| oac vs bc |' in open(outcome.report['markdown']).read()
  config.agents[-1].teacher = 'oac'
  with pytest.raises(recipe.RecipeError, match="teacher='oac' is not an earlier agent"):
    recipe.run(config, log=lambda *_: None)


def test_rerun_reuses_finished_stages_and_refuses_changed_ones(finished):
  config, first = finished
  store = os.path.join(first.workdir, 'results.jsonl')
  before = open(store).read()
  again = recipe.run(config, log=lambda *_: None)
  assert again.stages['record'] == 'reused'
  assert again.stages['train bc'] == again.stages['train ftbc'] == 'reused'
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
  with pytest.raises(ValueError, match="variants 'default', 'tiny' and 'oac'"):
    recipe.load_config_file('experiments/unplugged.py:huge')


@pytest.mark.slow
def test_tiny_recipe_on_skirmish(tmp_path):
  config = _tiny_config(tmp_path, env=None)
  assert config.env.startswith('skirmish/')
  outcome = recipe.run(config, log=lambda *_: None)
  text = open(outcome.report['markdown']).read()
  assert '| ftbc vs bc |' in text and f'## {config.env}' in text
