"""The demo recipe (`make demo`) end to end at tiny sizes, and its resumption.

The fast tests run the whole tiny recipe (record, BC, FT-BC, tournament, report) on the
toy Corridor, whose programs compile in about a second; the same recipe on Skirmish
compiles seven Skirmish-sized programs (recording, two learners, the tournament's
matchup kinds), which takes minutes on two cores, so it is marked slow.
"""
import json
import os

import pytest
from ml_collections import config_dict

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


def test_an_agent_joins_by_configuration_alone(finished):
  config, first = finished
  config = config.copy_and_resolve_references()
  bc_run = os.path.join(first.workdir, 'agents', 'bc')
  config.agents.append(config_dict.ConfigDict(dict(
      name='bc_copy', config='', overrides={}, init_from='', top_fraction=0.0,
      checkpoint=bc_run)))
  outcome = recipe.run(config, log=lambda *_: None)
  assert outcome.stages['record'] == 'reused' and outcome.stages['train bc'] == 'reused'
  assert outcome.stages['train bc_copy'] == 'loaded'
  assert outcome.stages['tournament'] != '0 shards played'
  text = open(outcome.report['markdown']).read()
  assert '| bc_copy | agent |' in text


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
  with pytest.raises(ValueError, match="variants 'default' and 'tiny'"):
    recipe.load_config_file('experiments/unplugged.py:huge')


@pytest.mark.slow
def test_tiny_recipe_on_skirmish(tmp_path):
  config = _tiny_config(tmp_path, env=None)
  assert config.env.startswith('skirmish/')
  outcome = recipe.run(config, log=lambda *_: None)
  text = open(outcome.report['markdown']).read()
  assert '| ftbc vs bc |' in text and f'## {config.env}' in text
