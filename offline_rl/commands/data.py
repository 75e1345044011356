"""`offline-rl data info|inspect|convert|record`: RLDS datasets from the command line.

  offline-rl data info PATH
  offline-rl data verify PATH     (reads every record; names every bad file)
  offline-rl data inspect PATH [--episode=0] [--max_steps=20]
  offline-rl data convert SOURCE DEST [--from=rlds|minari|d4rl] [--format=array_record]
  offline-rl data record DEST --env=toy/corridor-v0 [--env_kwargs='{"length": 6}']
      --matchup=corridor-bot-1@1500,corridor-bot-0.5@1100 [--matchup=...]
      [--num_episodes=1000] [--seed=0] [--num_envs=64] [--format=tfrecord]
      [--coordinator_address=HOST:PORT --num_processes=N --process_id=I | --distributed]

Policies are named as everywhere else (`offline_rl.evaluation.players`: a bot's NAME,
random, checkpoint:DIR, ...); 'NAME@RATING' sets the recorded rating.
"""
from __future__ import annotations

import json
import sys

from absl import flags
import numpy as np

from offline_rl.commands import flags as common

FLAGS = flags.FLAGS
_ACTIONS = ('info', 'verify', 'inspect', 'convert', 'record')


flags.DEFINE_integer('episode', 0, 'inspect: which episode to show.')
flags.DEFINE_integer('max_steps', 20, 'inspect: steps to print (the rest elided).')
flags.DEFINE_enum('from', 'rlds', ['rlds', 'minari', 'd4rl'],
                  'convert: what SOURCE is: an RLDS directory, a Minari dataset id, or '
                  'a D4RL-style HDF5 file.')
flags.DEFINE_enum('format', None, ['tfrecord', 'array_record'],
                  'convert/record: shard file format (default: tfrecord; convert '
                  '--from=rlds default: array_record).')
flags.DEFINE_multi_string('matchup', [], 'record: one seat-list per flag, policies '
                          'separated by commas, e.g. corridor-bot-1,corridor-bot-0.5.')
flags.DEFINE_integer('num_episodes', 100, 'record: games to record (one RLDS episode '
                     'per seat and game).')
flags.DEFINE_integer('num_envs', 64, 'record: environments run in parallel.')
flags.DEFINE_integer('episodes_per_shard', 1000, 'record/convert: games per shard.')
flags.DEFINE_bool('overwrite', False, 'record/convert: replace an existing DEST.')


def _usage(message: str) -> int:
  print(f'offline-rl data: {message}\n\n{__doc__}', file=sys.stderr)
  return 2


def histogram(values, *, bins: int = 10, width: int = 40) -> list[str]:
  """Text histogram lines: counts of few distinct whole numbers, else value ranges.

  Continuous values are binned (at most `bins`, fewer for few values: Sturges' rule),
  so ten returns do not print ten rows.
  """
  values = np.asarray(values, np.float64)
  finite = values[np.isfinite(values)]
  lines = []
  missing = values.size - finite.size
  if finite.size:
    distinct = np.unique(finite)
    if distinct.size <= bins and np.all(distinct == np.round(distinct)):
      labels = [f'{v:g}' for v in distinct]
      counts = [(finite == v).sum() for v in distinct]
    else:
      bins = min(bins, int(np.ceil(np.log2(finite.size))) + 1)
      counts, edges = np.histogram(finite, bins=bins)
      labels = [f'[{edges[i]:.4g}, {edges[i + 1]:.4g}' + (']' if i == bins - 1 else ')')
                for i in range(bins)]
    top = max(max(counts), 1)
    pad = max(len(label) for label in labels)
    for label, count in zip(labels, counts):
      lines.append(f'  {label:>{pad}} | {"#" * int(round(width * count / top)):<{width}} '
                   f'{count}')
  if missing:
    lines.append(f'  (unknown: {missing})')
  return lines


def value_counts(values, *, top: int = 10, width: int = 40) -> list[str]:
  """Text lines: the `top` most frequent values of a text column with their counts."""
  names, counts = np.unique(np.asarray(values).astype(str), return_counts=True)
  order = np.argsort(-counts, kind='stable')
  most = max(int(counts.max()), 1) if counts.size else 1
  pad = max((len(names[i]) for i in order[:top]), default=0)
  lines = [f'  {names[i] or "(empty)":>{pad}} | '
           f'{"#" * int(round(width * counts[i] / most)):<{width}} {counts[i]}'
           for i in order[:top]]
  if len(order) > top:
    lines.append(f'  ... {len(order) - top} more values')
  return lines


def _size(num_bytes: int) -> str:
  for unit in ('B', 'KiB', 'MiB', 'GiB'):
    if num_bytes < 1024 or unit == 'GiB':
      return f'{num_bytes:.1f} {unit}' if unit != 'B' else f'{num_bytes} B'
    num_bytes /= 1024
  return ''


def _describe_tree(tree, indent='    ') -> list[str]:
  from offline_rl import specs  # pylint: disable=g-import-not-at-top
  if tree is None:
    return [f'{indent}(none)']
  return [f'{indent}{name}: {leaf.describe()}'
          for name, leaf in specs.flatten(tree).items()]


def info(path: str) -> None:
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  from offline_rl import specs  # pylint: disable=g-import-not-at-top
  ds = datasets.load(path)
  spec = ds.spec
  print(f'dataset      {ds.path}')
  print(f'name         {ds.name} (TFDS), format {ds.file_format}, '
        f'{len(ds.shard_paths)} shard(s), {_size(ds.disk_bytes)} on disk')
  print(f'environment  {spec.env_id} v{spec.version}, {spec.num_players} player(s), '
        f'max {spec.max_episode_steps} steps'
        + (' [spec inferred from the features]' if ds.spec_inferred else ''))
  if spec.params:
    print(f'params       {json.dumps(dict(spec.params), sort_keys=True)}')
  print('observation'); print('\n'.join(_describe_tree(spec.observation)))
  for key in ds.skipped_fields:
    print(f'    (skipped: {key} holds text; only numeric fields are trained on)')
  print('action'); print('\n'.join(_describe_tree(spec.action)))
  for head, seen in ds.action_ranges.items():
    sized = specs.flatten(spec.action)[head].num_values is not None
    print(f'    ({head}: values {seen} in the data; ' + (
        'num_values inferred as max + 1; train --config.num_actions=N overrides)'
        if sized else 'negative, so not action indices: give the spec in metadata.json)'))
  print('legal_action_mask'); print('\n'.join(_describe_tree(spec.legal_action_mask)))
  print(f'episodes     {ds.num_episodes}')
  print(f'steps        {ds.num_steps}')
  meta = ds.metadata
  policies = meta.get('policy_id')
  if policies is not None and any(policies):
    names, counts = np.unique(policies.astype(str), return_counts=True)
    print('policies')
    for name, count in zip(names, counts):
      ratings = meta['rating'][policies.astype(str) == name]
      rating = f'rating {ratings[0]:g}' if np.isfinite(ratings[0]) else 'no rating'
      print(f'  {name or "(unnamed)"}: {count} episodes, {rating}')
  for key, title in (('rating', 'ratings'), ('outcome', 'outcomes'),
                     ('episode_return', 'returns'), ('length', 'lengths')):
    print(title)
    print('\n'.join(histogram(meta[key]) or ['  (none)']))
  shown = {'rating', 'outcome', 'episode_return', 'length', 'policy_id'}
  others = sorted(k for k in meta if k not in shown)
  if others:
    print('metadata fields (filter on them with --config.filters)')
  for key in others:
    column = np.asarray(meta[key])
    numeric = column.dtype.kind in 'biuf'
    print(f'  {key} ({column.dtype.name if numeric else "text"})')
    lines = histogram(column) if numeric else value_counts(column)
    print('\n'.join(f'  {line}' for line in lines) or '    (none)')


def verify(path: str) -> int:
  """Prints one line per bad file on stderr (exit 1), or a summary (exit 0)."""
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  dataset, problems = datasets.verify(path)
  for problem in problems:
    print(f'offline-rl data verify: error: {problem}', file=sys.stderr)
  if problems:
    return 1
  print(f'{dataset.path}: all {dataset.num_episodes} episodes ({dataset.num_steps} '
        f'steps) in {len(dataset.shard_paths)} shard(s) read back whole.')
  return 0


def inspect(path: str, episode: int, max_steps: int) -> None:
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  ds = datasets.load(path)
  if not 0 <= episode < ds.num_episodes:
    raise datasets.DatasetError(f'episode {episode} does not exist: {ds.path} has '
                                f'{ds.num_episodes} episodes (0..{ds.num_episodes - 1}).')
  ep = ds.episode(episode)
  print(f'episode {episode} of {ds.num_episodes} in {ds.path}')
  for key, value in ep['metadata'].items():
    print(f'  {key}: {value}')
  steps = ep['steps']
  flat = {}

  def walk(tree, prefix):
    for k, v in tree.items():
      name = f'{prefix}/{k}' if prefix else k
      if isinstance(v, dict):
        walk(v, name)
      else:
        flat[name] = np.asarray(v)
  walk(steps, '')
  length = len(steps['reward'])
  names = sorted(flat)
  print(f'  steps: {length}')
  np.set_printoptions(precision=3, suppress=True, linewidth=200, threshold=20)
  for t in range(length):
    if t == max_steps and length > max_steps + 1:
      print(f'  ... {length - max_steps - 1} more steps ...')
      continue
    if max_steps <= t < length - 1:
      continue
    print(f'  t={t}')
    for name in names:
      print(f'    {name}: {flat[name][t]}')


def record(dest: str) -> None:
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  process, num_processes = common.start_processes()
  env = common.make_env()
  from offline_rl.evaluation import players  # pylint: disable=g-import-not-at-top
  if not FLAGS.matchup:
    raise ValueError('record needs at least one --matchup=POLICY[,POLICY] (one policy '
                     f'per seat; {env.spec.num_players} here). Bots: '
                     f'{", ".join(players.bot_names(env)) or "(none listed)"}; or '
                     'random, checkpoint:DIR.')
  matchups = [[players.resolve_policy(name, env) for name in m.split(',')]
              for m in FLAGS.matchup]
  result = datasets.record(env, matchups, dest, num_episodes=FLAGS.num_episodes,
                           seed=common.SEED.value, num_envs=FLAGS.num_envs,
                           file_format=FLAGS.format or 'tfrecord',
                           progress=common.PROGRESS.value,
                           episodes_per_shard=FLAGS.episodes_per_shard,
                           overwrite=FLAGS.overwrite)
  if process == 0:
    print(f'recorded {result["games"]} games = {result["episodes"]} episodes, '
          f'{result["steps"]} steps into {result["path"]} ({result["shards"]} shards'
          f'{", resumed" if result["resumed"] else ""}'
          f'{f", {num_processes} processes" if num_processes > 1 else ""}) in '
          f'{result["seconds"]:.1f} s.')


def convert(source: str, dest: str) -> None:
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  kind = FLAGS['from'].value
  fmt = FLAGS.format
  if kind == 'minari':
    ds = datasets.import_minari(source, dest, file_format=fmt or 'tfrecord',
                                overwrite=FLAGS.overwrite,
                                drop_nonfinite=FLAGS.drop_nonfinite)
  elif kind == 'd4rl':
    ds = datasets.import_d4rl(source, dest, file_format=fmt or 'tfrecord',
                              overwrite=FLAGS.overwrite,
                              drop_nonfinite=FLAGS.drop_nonfinite)
  else:
    ds = datasets.convert(source, dest, file_format=fmt or 'array_record',
                          episodes_per_shard=FLAGS.episodes_per_shard,
                          overwrite=FLAGS.overwrite)
  dropped = ds.recording.get('dropped_nonfinite_episodes', 0)
  print(f'wrote {ds.num_episodes} episodes, {ds.num_steps} steps to {ds.path} '
        f'({ds.file_format})'
        + (f'; skipped {dropped} episodes holding NaN or inf.' if dropped else '.'))


def main(argv):
  args = list(argv[1:])
  if not args or args[0] not in _ACTIONS:
    return _usage(f'choose one of {", ".join(_ACTIONS)}.')
  action, rest = args[0], args[1:]
  needed = {'info': 1, 'verify': 1, 'inspect': 1, 'convert': 2, 'record': 1}[action]
  if len(rest) != needed:
    return _usage(f'{action} takes {needed} path argument(s), got {len(rest)}: {rest}.')
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  from offline_rl.data import filters  # pylint: disable=g-import-not-at-top
  try:
    if action == 'info':
      info(rest[0])
    elif action == 'verify':
      return verify(rest[0])
    elif action == 'inspect':
      inspect(rest[0], FLAGS.episode, FLAGS.max_steps)
    elif action == 'convert':
      convert(rest[0], rest[1])
    else:
      record(rest[0])
  except (datasets.DatasetError, filters.FilterError, FileNotFoundError, KeyError,
          ValueError) as e:
    message = e.args[0] if isinstance(e, KeyError) and e.args else e
    print(f'offline-rl data {action}: error: {message}', file=sys.stderr)
    return 1
  return 0
