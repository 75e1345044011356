"""The Unplugged recipe, stage by stage: record, train, tournament, report.

`run(config)` takes the ConfigDict of `experiments/unplugged.py` and works in
`config.workdir`:

  data/            the recorded RLDS dataset (skipped when already complete);
  agents/<name>/s<seed>/  one training run per agent and training seed (skipped when
                   finished with the same settings; an interrupted run resumes from
                   its checkpoint);
  results.jsonl    the tournament's results store (only missing shards are played);
  report/          report.md, PNG plots and report.html (always rewritten).

Each finished stage leaves a stamp (`<dir>/.recipe-stamp.json`) holding the settings
it was made with; running again with other settings for a finished stage stops with an
error that names the stage and the directory to delete, instead of mixing results.
"""
from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib.util
import json
import math
import os
import time
from typing import Any, Callable

from ml_collections import config_dict

from offline_rl import types

STAMP = '.recipe-stamp.json'
EXPERIMENTS = 'experiments'
# AlphaStar Unplugged's agents by Elo, strongest first (its Table: MZS-MCTS 1578, E-OAC
# 1563, OAC 1548, FT-BC 1485, MZS 1425, BC 1380); the report says how much of it holds.
PAPER_ORDER = ('mzs_mcts', 'eoac', 'oac', 'ftbc', 'mzs', 'bc')


class RecipeError(RuntimeError):
  """A recipe stage cannot run as configured; the message says how to fix it."""


def _say(text: str, progress: bool) -> None:
  if progress:
    from rich import console  # pylint: disable=g-import-not-at-top
    console.Console().rule(f'[bold]{text}')
  else:
    print(text, flush=True)


def _plain(value):
  if isinstance(value, config_dict.ConfigDict):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return value


def _digest(settings: Any) -> str:
  text = json.dumps(_plain(settings), sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stamped(directory: str, settings: Any, stage: str) -> bool:
  """True when `directory` holds a finished stage made with `settings`."""
  path = os.path.join(directory, STAMP)
  if not os.path.exists(path):
    return False
  with open(path) as f:
    stamp = json.load(f)
  if stamp.get('digest') != _digest(settings):
    raise RecipeError(
        f'The {stage} stage in {directory} was made with other settings than this run\'s. '
        f'Delete {directory} to redo it, or set --config.workdir to a new directory.')
  return True


def _stamp(directory: str, settings: Any, **extra) -> None:
  with open(os.path.join(directory, STAMP), 'w') as f:
    json.dump({'digest': _digest(settings), 'settings': _plain(settings), **extra}, f,
              indent=1, default=str)


def experiments_dir() -> str:
  """The shipped `experiments/` folder: the installed `offline_rl.experiments` package
  (setup.py maps the top-level folder there), else a source checkout's folder."""
  spec = importlib.util.find_spec(f'offline_rl.{EXPERIMENTS}')
  if spec is not None and spec.submodule_search_locations:
    return list(spec.submodule_search_locations)[0]
  package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return os.path.join(os.path.dirname(package_root), EXPERIMENTS)


def find_config(path: str) -> str:
  """`path` if it exists; else 'experiments/NAME.py' in the shipped experiments folder, so
  the README's commands work from any directory and from a pip-installed package."""
  head, _, rest = os.path.normpath(path).partition(os.sep)
  if os.path.exists(path) or head != EXPERIMENTS:
    return path
  return os.path.join(experiments_dir(), rest)


def load_config_file(spec: str) -> config_dict.ConfigDict:
  """'path/to/file.py[:arg]' -> its get_config(arg); see `find_config` for the path."""
  path, _, arg = spec.partition(':')
  path = find_config(path)
  if not os.path.exists(path):
    raise RecipeError(f'No config file {path!r}; give a path such as experiments/bc.py:bc.')
  module_spec = importlib.util.spec_from_file_location(
      f'_recipe_config_{abs(hash(path))}', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def apply_overrides(config: config_dict.ConfigDict, overrides) -> None:
  """Sets `overrides` (nested) into `config`; unknown fields are an error."""
  for key, value in overrides.items():
    if key not in config:
      raise RecipeError(f'Override {key!r} is not a field of the training config; '
                        f'fields: {sorted(config.keys())}.')
    if isinstance(config[key], config_dict.ConfigDict) and isinstance(
        value, (config_dict.ConfigDict, dict)):
      apply_overrides(config[key], value)
    else:
      with config.unlocked():
        config[key] = _plain(value) if isinstance(value, config_dict.ConfigDict) else value


# Stage 1: the dataset ----------------------------------------------------------------


def bot_pool(config, env) -> list[types.Policy]:
  from offline_rl.evaluation import players  # pylint: disable=g-import-not-at-top
  pool = []
  for name in config.bots:
    pool += [player.policy for player in players.resolve(name, env)]
  if len(pool) < 2:
    raise RecipeError('The recipe needs at least two bots in config.bots.')
  return pool


def data_matchups(config, pool):
  if config.data.matchups == 'neighbours':
    pairs = [(p, p) for p in pool] + list(zip(pool[:-1], pool[1:]))
  elif config.data.matchups == 'round_robin':
    pairs = [(a, b) for i, a in enumerate(pool) for b in pool[i:]]
  else:
    raise RecipeError(f'config.data.matchups must be neighbours or round_robin, not '
                      f'{config.data.matchups!r}.')
  return pairs


def record_stage(config, env, pool, directory: str) -> str:
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  settings = {'env': config.env, 'env_kwargs': config.env_kwargs, 'seed': config.seed,
              'data': config.data, 'pool': [(p.policy_id, p.rating) for p in pool]}
  if _stamped(directory, settings, 'record'):
    return 'reused'
  path = os.path.join(directory, 'dataset')
  datasets.record(env, data_matchups(config, pool), path,
                  num_episodes=int(config.data.num_episodes), seed=int(config.seed),
                  num_envs=int(config.data.num_envs), file_format=config.data.file_format,
                  progress=bool(config.progress), log=print)
  _stamp(directory, settings)
  return 'recorded'


# Stage 2: the agents -----------------------------------------------------------------


def rating_threshold(pool, top_fraction: float) -> float:
  """The lowest rating among the top `top_fraction` of the pool's bots."""
  ratings = sorted(float(p.rating) for p in pool)
  if any(math.isnan(r) for r in ratings):
    raise RecipeError('top_fraction needs calibrated bot ratings; this pool has none.')
  keep = max(1, int(round(top_fraction * len(ratings))))
  return ratings[-keep]


def training_config(agent, dataset: str, pool, run_dirs: dict[str, str], seed: int):
  """The agent's training config for one seed; `run_dirs` are that seed's earlier runs."""
  config = load_config_file(agent.config)
  apply_overrides(config, agent.overrides)
  with config.unlocked():
    config.dataset = dataset
    config.seed = int(seed)
    if agent.top_fraction > 0:
      config.filters = f'rating>={rating_threshold(pool, agent.top_fraction):.6g}'
    for field in _EARLIER_AGENT_FIELDS:
      if agent.get(field):
        _check_earlier(agent, field, run_dirs)
        config[field] = run_dirs[agent[field]]
  return config


def player_name(agent: str, seed: int) -> str:
  """The tournament name of one training seed of an agent, NAME/sSEED (the report
  groups an agent's seeds back by the players' `group` records)."""
  return f'{agent}/s{seed}'


# Entries that name an earlier agent of the recipe, whose run directory (same seed) they
# receive: init_from warm-starts from it, teacher distils towards it (frozen).
_EARLIER_AGENT_FIELDS = ('init_from', 'teacher')
# All the fields that must name an earlier agent (params_from: play its trained params).
_EARLIER_FIELDS = _EARLIER_AGENT_FIELDS + ('params_from',)


def _check_earlier(agent, field: str, earlier) -> None:
  if agent[field] not in earlier:
    raise RecipeError(f'Agent {agent.name!r}: {field}={agent[field]!r} is not an earlier '
                      'agent of the recipe; list that agent first.')


def train_stage(agent, config, run_dir: str, progress: bool) -> str:
  """Trains one agent in-process with the generic learner."""
  # pylint: disable=g-import-not-at-top
  import jax
  from offline_rl.learner import experiment
  if _stamped(run_dir, config, f'training of {agent.name}'):
    return 'reused'
  learner = experiment.train(config, run_dir, progress)
  steps, episodes = int(learner.state.step), int(learner.iterator.num_episodes)
  _stamp(run_dir, config, steps=steps, episodes=episodes)
  # The next agent needs none of this run's data or programs; kept, they grew the
  # process to 4.8 GB by the fifth agent, where a shared 23 GB machine killed it.
  del learner
  gc.collect()
  jax.clear_caches()
  return f'trained to step {steps} on {episodes} episodes'


def acting_policy(config, run_dir: str) -> types.Policy:
  """The params of the run in `run_dir` acting by `config` (an agent entry's
  `params_from`: MZS-MCTS searches with MZS's trained network).

  Raises:
    RecipeError: `config`'s network does not have the run's parameter shapes.
  """
  # pylint: disable=g-import-not-at-top
  import jax
  from offline_rl import agent as agent_lib
  from offline_rl import learner
  trained, params, meta = learner.load_agent(run_dir)
  agent = agent_lib.make(config.agent, trained.spec, config)
  if _shapes(jax.eval_shape(agent.init, jax.random.PRNGKey(0))) != _shapes(params):
    raise RecipeError(f'{config.agent} cannot play the params of {run_dir}: its network '
                      'differs; give it the same network overrides as that agent.')
  rating = agent_lib.eval_rating(config, meta.get('top_rating'))
  return agent.make_policy(params, rating=rating)


def _shapes(tree):
  import jax  # pylint: disable=g-import-not-at-top
  return jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), tree)


def share_functions(first: types.Policy, policy: types.Policy) -> types.Policy:
  """`policy`'s params in `first`'s functions when their params have the same shapes:
  the seeds of one agent (same config but the seed) then share each compiled match
  program instead of compiling their own. Sound because a trained policy's functions
  depend on its config only; its params (the rating input included) are data."""
  if _shapes(first.params) != _shapes(policy.params):
    return policy
  return first._replace(params=policy.params)


# Stage 3: the tournament -------------------------------------------------------------


def tournament_pairs(bots: list[str], seed_players: dict[int, dict[str, str]],
                     comparisons) -> tuple[list, list]:
  """(head-to-head pairs, other pairs) of the tournament.

  The bots play each other (they anchor the Elo scale), every agent player (each seed)
  plays every bot, and each `comparisons` pair (A, B) plays head to head seed against
  seed. Agents outside the comparisons do not meet: each meeting of two agents compiles
  its own program, and the bots connect every agent's rating.

  Args:
    bots: the bot pool's names.
    seed_players: seed -> {agent name: player name}.
    comparisons: (A, B) agent names.
  """
  from offline_rl.evaluation import work  # pylint: disable=g-import-not-at-top
  heads = [(players[a], players[b]) for players in seed_players.values()
           for a, b in comparisons if a in players and b in players]
  agents = [name for players in seed_players.values() for name in players.values()]
  return heads, work.round_robin(bots) + work.against_pool(agents, bots)


def tournament_stage(config, env, pool, agent_policies, seed_players, store_path: str
                     ) -> int:
  # pylint: disable=g-import-not-at-top
  from offline_rl.evaluation import players as players_lib
  from offline_rl.evaluation import store as store_lib
  from offline_rl.evaluation import work
  t = config.tournament
  players = [players_lib.Player(p.policy_id, p, {'kind': 'bot', 'rating': float(p.rating)})
             for p in pool]
  players += [players_lib.Player(name, policy, info) for name, (policy, info) in
              agent_policies.items()]
  store = store_lib.ResultsStore(store_path)
  known = {(r.get('env'), r['name']): r for r in store.records('agent')}
  new = [players_lib.agent_record(p.name, config.env, p.info) for p in players]
  new = [r for r in new if known.get((config.env, r['name'])) != _jsonable(r)]
  if new:
    store.append(*new)
  heads, others = tournament_pairs([p.policy_id for p in pool], seed_players,
                                   comparisons(config))
  seeds = [int(s) for s in t.seeds]
  shards = work.plan(config.env, heads, games_per_match=int(t.agent_games),
                     seeds=seeds, shard_size=int(t.shard_size))
  shards += work.plan(config.env, others, games_per_match=int(t.games_per_match),
                      seeds=seeds, shard_size=int(t.shard_size))
  # Group shards by the compiled function they need (agent pairs, agent-vs-bot, bots).
  agents = set(agent_policies)
  shards.sort(key=lambda s: tuple(n in agents for n in s.players), reverse=True)
  return work.run_shards(shards, store, envs={config.env: env},
                         policies={config.env: {p.name: p.policy for p in players}},
                         show_progress=bool(config.progress), description='tournament')


def comparisons(config) -> list[tuple[str, str]]:
  return [tuple(c.split(':', 1)) for c in config.report.comparisons]


def _final_step(run_dir: str) -> int:
  """The last training step a run logged (0 when it has no log)."""
  from offline_rl.evaluation import report  # pylint: disable=g-import-not-at-top
  curves = report.read_training_logs(run_dir)
  return int(max((x.max() for x, _ in curves.values() if len(x)), default=0))


def _jsonable(record):
  return json.loads(json.dumps(record))


def validate(config) -> None:
  """Checks the agent list, the seeds and the comparisons before any stage runs."""
  names = [a.name for a in config.agents]
  if len(set(names)) != len(names):
    raise RecipeError(f'Agent names must be unique; got {names}.')
  seeds = list(config.seeds)
  if not seeds or len(set(seeds)) != len(seeds):
    raise RecipeError(f'config.seeds must list distinct training seeds; got {seeds}.')
  for i, agent in enumerate(config.agents):
    for field in _EARLIER_FIELDS:
      if agent.get(field):
        _check_earlier(agent, field, names[:i])
    if not 0 <= agent.top_fraction < 1:
      raise RecipeError(f'Agent {agent.name!r}: top_fraction must be in [0, 1), got '
                        f'{agent.top_fraction}.')
    if agent.checkpoint and len(seeds) > 1:
      raise RecipeError(f'Agent {agent.name!r} loads one checkpoint, but the recipe trains '
                        f'{len(seeds)} seeds; give a checkpoint per seed as separate '
                        'agents, or one seed.')
    if not agent.checkpoint:
      load_config_file(agent.config)
  for c in config.report.comparisons:
    a, sep, b = c.partition(':')
    if not sep or a not in names or b not in names:
      raise RecipeError(f'report.comparisons takes A:B pairs of agent names {names}; '
                        f'got {c!r}.')


# The whole recipe --------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
  workdir: str
  report: dict[str, str]
  stages: dict[str, str]
  seconds: dict[str, float]


def run(config: config_dict.ConfigDict,
        log: Callable[[str], None] | None = None) -> Outcome:
  """Runs (or resumes) the whole recipe; returns where the report is."""
  # pylint: disable=g-import-not-at-top
  from offline_rl import environments
  from offline_rl.evaluation import players as players_lib
  from offline_rl.evaluation import report
  progress = bool(config.progress)
  log = log or print
  workdir = os.path.abspath(config.workdir)
  os.makedirs(workdir, exist_ok=True)
  if config.get('compilation_cache', True):
    _cache_compilations(workdir)
  stages, seconds = {}, {}
  validate(config)
  env = environments.make(config.env, **dict(config.env_kwargs))
  pool = bot_pool(config, env)
  seeds = [int(s) for s in config.seeds]
  num_stages = 3 + len(config.agents) * len(seeds)
  step = 0

  def begin(title):
    nonlocal step
    step += 1
    _say(f'[{step}/{num_stages}] {title}', progress)
    return time.perf_counter()

  start = begin(f'Recording a skill-stratified dataset: {len(pool)} bots, '
                f'{config.data.num_episodes} games of {config.env}')
  data_dir = os.path.join(workdir, 'data')
  os.makedirs(data_dir, exist_ok=True)
  stages['record'] = record_stage(config, env, pool, data_dir)
  seconds['record'] = time.perf_counter() - start
  log(f'  dataset: {stages["record"]} in {seconds["record"]:.0f} s')
  dataset = os.path.join(data_dir, 'dataset')

  agent_policies, seed_players = {}, {}
  for seed in seeds:
    run_dirs = {}
    seed_players[seed] = {}
    for agent in config.agents:
      name = player_name(agent.name, seed)
      info = {'kind': 'agent', 'group': agent.name, 'seed': seed, 'config': agent.config}
      if agent.checkpoint:
        run_dirs[agent.name] = os.path.abspath(agent.checkpoint)
        begin(f'Agent {name}: loading {agent.checkpoint}')
        stages[f'train {name}'] = 'loaded'
      elif agent.get('params_from'):
        begin(f'Agent {name}: the params of {agent.params_from} acting by {agent.config}')
        run_dirs[agent.name] = run_dirs[agent.params_from]
        stages[f'train {name}'] = f'plays {agent.params_from}\'s params'
      else:
        run_dir = os.path.join(workdir, 'agents', agent.name, f's{seed}')
        os.makedirs(run_dir, exist_ok=True)
        train_config = training_config(agent, dataset, pool, run_dirs, seed)
        what = (f'filters {train_config.filters}' if train_config.filters
                else 'all episodes')
        start = begin(f'Training {name} ({agent.config}, {what}'
                      + (f', from {agent.init_from}' if agent.init_from else '') + ')')
        stages[f'train {name}'] = train_stage(agent, train_config, run_dir, progress)
        seconds[f'train {name}'] = time.perf_counter() - start
        log(f'  {name}: {stages[f"train {name}"]} in {seconds[f"train {name}"]:.0f} s')
        run_dirs[agent.name] = run_dir
      if agent.get('params_from'):
        info['params_from'] = player_name(agent.params_from, seed)
        policy = acting_policy(training_config(agent, dataset, pool, run_dirs, seed),
                               run_dirs[agent.name])
      else:
        info['workdir'] = run_dirs[agent.name]
        policy = players_lib.load_checkpoint(run_dirs[agent.name], env)
      if agent.init_from:  # Its curves continue the parent's.
        info['init_from'] = player_name(agent.init_from, seed)
        info['step_offset'] = _final_step(run_dirs[agent.init_from])
      first = agent_policies.get(player_name(agent.name, seeds[0]))
      if first:
        policy = share_functions(first[0], policy)
      agent_policies[name] = (policy._replace(policy_id=name), info)
      seed_players[seed][agent.name] = name

  start = begin(f'Tournament: {len(pool)} bots and {len(agent_policies)} agents')
  store_path = os.path.join(workdir, 'results.jsonl')
  played = tournament_stage(config, env, pool, agent_policies, seed_players, store_path)
  stages['tournament'] = f'{played} shards played'
  seconds['tournament'] = time.perf_counter() - start
  log(f'  tournament: {played} new shards in {seconds["tournament"]:.0f} s')

  start = begin('Report')
  r = config.report
  t = config.tournament
  seed_text = (f'{len(seeds)} training seeds ({", ".join(map(str, seeds))}), each its '
               'own player' if len(seeds) > 1 else
               'one training seed (no spread across seeds is measured)')
  notes = [f'Made by `offline-rl demo --config=experiments/unplugged.py:{config.variant}` '
           f'(workdir {workdir}).',
           f'Dataset: {config.data.num_episodes} games of {config.env} among {len(pool)} '
           f'ladder bots ({config.data.matchups}). Agents: ' + ', '.join(
               f'{a.name} ({a.config}' + (f', top {a.top_fraction:.0%} of the ladder'
                                          if a.top_fraction else '')
               + (f', the params of {a.params_from}' if a.get('params_from') else '') + ')'
               for a in config.agents) + f'; {seed_text}.',
           f'Tournament: the bots among themselves and every agent (each seed) against '
           f'every bot, {t.games_per_match} games a pair; each comparison head to head, '
           f'seed s against seed s, {t.agent_games} games a seed; seats alternate, maps '
           f'vary (evaluation seeds {list(t.seeds)}).']
  summary_args = dict(anchor=r.anchor or None, anchor_rating=float(r.anchor_rating),
                      comparisons=comparisons(config), confidence=float(r.confidence),
                      num_samples=int(r.bootstrap), seed=int(config.seed))
  paths = report.write(store_path, os.path.join(workdir, 'report'), title=r.title,
                       notes=notes, goal_vs_reference=float(r.goal_vs_strongest_bot),
                       paper_order=PAPER_ORDER, **summary_args)
  seconds['report'] = time.perf_counter() - start
  stages['report'] = paths['markdown']
  for document in r.paste_into:
    report.paste_table(paths['table'], document, _table_header(config))
  if progress:
    from offline_rl.evaluation import analysis  # pylint: disable=g-import-not-at-top
    report.print_summaries(analysis.summarize(store_path, **summary_args))
  log(f'Report: {paths["markdown"]}\n        {paths["html"]}')
  return Outcome(workdir, paths, stages, seconds)


def _table_header(config) -> str:
  """Where a pasted table came from: the command, date, seeds and games."""
  fields = [f'--config=experiments/unplugged.py:{config.variant}']
  if list(config.seeds) != list(load_config_file(
      f'experiments/unplugged.py:{config.variant}').seeds):
    fields.append(f"--config.seeds='{tuple(config.seeds)}'")
  return (f'Made by `offline-rl demo {" ".join(fields)}` on '
          f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}: '
          f'{len(config.seeds)} training seed(s) an agent, {config.data.num_episodes} '
          f'recorded games, {config.tournament.games_per_match} games per agent-bot '
          f'pair and {config.tournament.agent_games} per comparison and seed.')


def _cache_compilations(workdir: str) -> None:
  """Re-runs reuse compiled XLA programs from a persistent cache in the workdir."""
  import jax  # pylint: disable=g-import-not-at-top
  if jax.config.jax_compilation_cache_dir is None:
    jax.config.update('jax_compilation_cache_dir', os.path.join(workdir, '.jax_cache'))
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)

