"""The generic learner: one training loop for every agent.

An agent (`offline_rl.agent.Agent`) brings `init(key) -> params`, a pure
`loss(params, context, batch, key) -> (loss, metrics)` and, optionally, a target rule
and a teacher. The learner owns everything else:

  * K = `updates_per_call` updates per compiled call (`lax.scan` over K batches,
    drawn by the iterator's `next_many(K)` in one call where it has one);
  * optax: learning-rate schedule, global-norm clipping, AdamW on the params only;
  * the agent's other networks: a target copy of the params moved by the agent's
    `TargetRule` after every update (never decayed by the optimiser), and a frozen
    teacher loaded from `config.teacher`; both reach the loss in its `LossContext`;
  * a warm start from `config.init_from`: every parameter the checkpoint has (same
    path and shape) is loaded, the others keep their fresh values;
  * data parallelism over every process's devices (`jax.sharding`): a mesh
    ('data', 'model') of shape [D, 1]; the batch axis is split over 'data',
    parameters are replicated, and XLA inserts the gradient all-reduce into the
    compiled step. Each process feeds its own rows of the global batch
    (`jax.make_array_from_process_local_data`), so `batch_size` is the global batch
    whatever the number of processes. 'model' (size 1) is where a network too large
    for one device would shard its weights (docs/scaling.md);
  * Orbax checkpoints of params, target, optimiser state, step, RNG key and every
    process's data-iterator position, written collectively: a resumed run continues
    exactly where it stopped, and a run may resume on another number of processes;
  * the validation loss: given a validation iterator (the held-out split), the loss
    and its metrics on `VALIDATION_BATCHES` fixed batches of it, in one compiled
    call at every log step, logged beside the training metrics as 'validation_*';
  * CSV + TensorBoard logs, a rich progress bar with rate and ETA, a periodic
    evaluation hook, and a clear error when the loss stops being finite: all on
    process 0 only.

Letters: K updates per call, V validation batches, B batch, T unroll length.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from typing import Any, Callable, Mapping, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

from offline_rl import agent as agent_lib
from offline_rl import errors
from offline_rl.learner import checkpoints as ckpt_lib
from offline_rl.learner import optimizers
from offline_rl.learner import writers

PyTree = Any
EvalFn = Callable[[PyTree, int], Mapping[str, float]]
# Validation batches drawn once from the held-out split: every log step scores the
# same windows (one key for the losses' sampling too), so the curve moves only with
# the params.
VALIDATION_BATCHES = 4


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training.

  Attributes:
    params: the agent's parameters.
    target: the target network's parameters (None when the agent has no target).
    opt_state: the optimiser's state.
    step: [] int32, updates done.
    key: [2] uint32, the PRNG key for the losses.
  """
  params: PyTree
  target: PyTree
  opt_state: PyTree
  step: jax.Array
  key: jax.Array


def update_target(rule: agent_lib.TargetRule | None, params, target, step):
  """The target after update `step` (1-based): a copy every `period` updates, else a
  Polyak step of size `tau`; None without a rule."""
  if rule is None:
    return None
  if rule.period > 0:
    return optax.periodic_update(params, target, step, rule.period)
  return optax.incremental_update(params, target, rule.tau)


def make_update(loss_fn, optimizer: optax.GradientTransformation,
                schedule: optax.Schedule, target_rule=None):
  """Builds `update(state, teacher, batches) -> (state, metrics)`.

  `batches` is a Batch stacked [K, B, T+1, ...]; the K updates run in one `lax.scan`.
  `metrics` holds [K] arrays: the loss's metrics plus 'loss', 'grad_norm' and
  'learning_rate'.
  """
  def one_update(state: TrainState, teacher, batch):
    key, loss_key = jax.random.split(state.key)
    context = agent_lib.LossContext(state.target, teacher, state.step)
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, context, batch, loss_key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    step = state.step + 1
    target = update_target(target_rule, params, state.target, step)
    metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads),
                   learning_rate=schedule(state.step))
    return TrainState(params, target, opt_state, step, key), metrics

  def update(state: TrainState, teacher, batches):
    return jax.lax.scan(lambda s, b: one_update(s, teacher, b), state, batches)
  return update


def make_validate(loss_fn):
  """Builds `validate(params, context, batches, key) -> metrics`: the loss and its
  metrics averaged over the V batches of `batches` (a Batch stacked [V, B, T+1, ...]),
  each scored with the same `key`."""
  def validate(params, context, batches, key):
    def score(carry, batch):
      loss, metrics = loss_fn(params, context, batch, key)
      return carry, dict(metrics, loss=loss)
    _, metrics = jax.lax.scan(score, None, batches)
    return jax.tree.map(jnp.mean, metrics)
  return validate


@functools.lru_cache(maxsize=16)
def _compiled_validate(loss_fn, replicated):
  return jax.jit(make_validate(loss_fn), out_shardings=replicated)


@functools.lru_cache(maxsize=16)
def _compiled_update(loss_fn, optimizer_json: str, num_steps: int, target_rule,
                     replicated):
  """(optimizer, schedule, jitted update); learners of the same agent and optimiser
  share one compiled function (tests and sweeps build several learners)."""
  optimizer, schedule = optimizers.make_optimizer(json.loads(optimizer_json), num_steps)
  update = jax.jit(make_update(loss_fn, optimizer, schedule, target_rule),
                   out_shardings=replicated)
  return optimizer, schedule, update


def _stack(batches: Sequence[Any]):
  """Stacks K batches [B, ...] into [K, B, ...] (jitted with the batch sharding)."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *batches)


def make_mesh(devices_per_process: int = 0) -> Mesh:
  """The mesh ('data', 'model') of shape [D, 1] over `devices_per_process` devices of
  every process (0: all), ordered by process.

  Raises:
    ValueError: more devices asked for than a process has.
  """
  local = len(jax.local_devices())
  wanted = devices_per_process or local
  if wanted > local:
    raise ValueError(f'num_devices={wanted} but only {local} local devices exist. On '
                     'CPU, set XLA_FLAGS=--xla_force_host_platform_device_count='
                     f'{wanted} before JAX is imported.')
  devices = [d for p in range(jax.process_count())
             for d in [d for d in jax.devices() if d.process_index == p][:wanted]]
  return Mesh(np.array(devices).reshape(-1, 1), ('data', 'model'))


def replicate(tree: PyTree, sharding: NamedSharding) -> PyTree:
  """`tree` (the same values on every process) as arrays replicated over the mesh."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def local_copy(tree: PyTree) -> PyTree:
  """NumPy copies of replicated arrays, read from this process's first device (a
  replicated array of a multi-process mesh is not fully addressable)."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0))
                      if isinstance(x, jax.Array) else x, tree)


def gather_json(value) -> list:
  """Every process's JSON-able `value`, in process order (a collective call)."""
  if jax.process_count() == 1:
    return [value]
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  text = np.frombuffer(json.dumps(value).encode(), np.uint8)
  length = int(np.max(multihost_utils.process_allgather(np.int32(text.size))))
  padded = np.zeros(length, np.uint8)
  padded[:text.size] = text
  gathered = multihost_utils.process_allgather(padded)  # [P, length]
  return [json.loads(row.tobytes().rstrip(b'\0')) for row in gathered]


def _time_to(step: int, previous: int, every: int) -> bool:
  return every > 0 and step // every > previous // every


class Learner:
  """Trains one agent from one data iterator into one run directory.

  Config fields read (see experiments/ for the defaults): seed, num_steps,
  updates_per_call, optimizer.*, log_every, checkpoint_every, keep_checkpoints,
  eval_every, init_from, teacher, num_devices.
  """

  def __init__(self, agent, iterator, config, workdir: str, *,
               eval_fn: EvalFn | None = None, validation=None, progress: bool = True,
               tensorboard: bool = True):
    """Args:
      agent: an agent from `offline_rl.agents.make`.
      iterator: a data iterator of this process's rows of each batch (`next()`,
        `get_state()`, `set_state()`; optionally `next_many(K)` -> batches stacked
        [K, B, ...], and `set_states(states)` to resume the positions of a run on
        another number of processes, used when present).
      config: the experiment ConfigDict.
      workdir: the run directory; an existing checkpoint there is resumed.
      eval_fn: `(params, step) -> {name: value}`, run every `eval_every` steps and
        at the end; logged under 'eval'.
      validation: an iterator of held-out batches (as `iterator`), or None; its first
        `VALIDATION_BATCHES` batches are scored at every log step.
      progress: show a rich progress bar.
      tensorboard: also write TensorBoard events.
    """
    self.agent, self.iterator, self.config = agent, iterator, config
    self.workdir = os.path.abspath(workdir)
    self.eval_fn, self.progress, self.tensorboard = eval_fn, progress, tensorboard
    os.makedirs(self.workdir, exist_ok=True)
    self.num_steps = int(config.num_steps)
    self.updates_per_call = int(config.updates_per_call)
    if self.num_steps < 1 or self.updates_per_call < 1:
      raise ValueError(f'num_steps ({self.num_steps}) and updates_per_call '
                       f'({self.updates_per_call}) must be >= 1.')

    self.mesh = make_mesh(int(config.num_devices))
    self.replicated = NamedSharding(self.mesh, PartitionSpec())
    # Batches are [K, B, ...]: split B over the devices.
    self.batch_sharding = NamedSharding(self.mesh, PartitionSpec(None, 'data'))
    self.is_writer = jax.process_index() == 0  # Logs, run files, progress, evaluation.

    self.optimizer, self.schedule, self._update = _compiled_update(
        agent.loss, config.optimizer.to_json(), self.num_steps, agent.target,
        self.replicated)
    self._stack = jax.jit(_stack)
    self._validate = self._validation_batches = None
    if validation is not None:
      self._validate = _compiled_validate(agent.loss, self.replicated)
      _, self._validation_batches = self._draw(validation, VALIDATION_BATCHES)
      # Fixed as the validation windows are (experiment.make_validation_iterator).
      self._validation_key = jax.random.fold_in(jax.random.PRNGKey(0),
                                                VALIDATION_BATCHES)
    self.checkpointer = ckpt_lib.Checkpointer(
        os.path.join(self.workdir, 'checkpoints'), int(config.keep_checkpoints))
    if self.is_writer:
      self._write_run_files()
    self.meta: dict = {'top_rating': None}
    try:
      self.teacher = self._load_teacher()
      self.state = self._initial_state()
    except BaseException:
      self.checkpointer.close()  # Its threads must not outlive a failed start.
      raise

  # ----------------------------------------------------------------- set-up ----
  def _write_run_files(self):
    with open(os.path.join(self.workdir, 'config.json'), 'w') as f:
      f.write(self.config.to_json_best_effort(indent=2))
    with open(os.path.join(self.workdir, 'spec.json'), 'w') as f:
      # Not EnvSpec.to_json: it sorts the keys, and the action heads' order is the
      # network's autoregressive order. EnvSpec.from_json keeps the file's order.
      json.dump(dataclasses.asdict(self.agent.spec), f, indent=2)

  def _load_teacher(self):
    """The frozen teacher's params from `config.teacher`, or None."""
    if self.agent.teacher is None:
      return None
    path = str(self.config.get('teacher', '') or '')
    if not path:
      raise errors.ConfigError(
          f'Agent {self.agent.name!r} distils towards a frozen teacher: set '
          '--config.teacher=RUN_DIR to a trained BC run (the same network config and '
          'dataset spec).')
    template = self.agent.teacher(jax.random.PRNGKey(0))
    params, _, step = ckpt_lib.load_params(path, template)
    self.meta['teacher'] = f'{path} (step {step})'
    return replicate(params, self.replicated)

  def _train_tree(self, state: TrainState) -> dict:
    return {'opt_state': state.opt_state, 'step': state.step, 'key': state.key,
            'target': state.target}

  def _initial_state(self) -> TrainState:
    key = jax.random.PRNGKey(int(self.config.seed))
    init_key, key = jax.random.split(key)
    params = self.agent.init(init_key)
    # An agent with a teacher starts from it unless init_from names another run.
    init_from = str(self.config.init_from or (
        self.config.get('teacher', '') if self.agent.teacher is not None else ''))
    if init_from and self.checkpointer.latest_step() is None:
      # Warm start (FT-BC, OAC's actor): parameters only; a fresh optimiser.
      params, meta, step, fresh = ckpt_lib.load_matching_params(init_from, params)
      self.meta['init_from'] = f'{init_from} (step {step})'
      self.meta['init_fresh'] = fresh
      self.meta['top_rating'] = meta.get('run', {}).get('top_rating')
    target = params if self.agent.target is not None else None
    state = TrainState(params, target, self.optimizer.init(params), jnp.int32(0), key)
    state = replicate(state, self.replicated)
    latest = self.checkpointer.latest_step()
    if latest is None:
      return state
    params, train, meta = self.checkpointer.restore(latest, state.params,
                                                    self._train_tree(state))
    self.meta.update(meta.get('run', {}))
    self._restore_iterator(meta['iterators'])
    return TrainState(params, train['target'], train['opt_state'], train['step'],
                      train['key'])

  def _restore_iterator(self, states: list):
    """Puts the iterator where the checkpoint's processes (`states`, one each) were."""
    set_states = getattr(self.iterator, 'set_states', None)
    if set_states is not None:
      set_states(states)
    elif len(states) == jax.process_count():
      self.iterator.set_state(states[jax.process_index()])
    else:
      raise errors.ConfigError(
          f'{self.workdir} was checkpointed by {len(states)} processes and this run has '
          f'{jax.process_count()}; its iterator has no set_states(states) to resume on '
          'another count. Resume on as many processes.')

  # --------------------------------------------------------------- training ----
  def _draw(self, iterator, count: int):
    """(this process's rows, the global batches): the next `count` batches of
    `iterator` stacked [K, B, ...], B split over the devices.

    The iterator yields this process's rows of each batch: its `next_many(count)`
    (one compiled sampling call in the memory backend) when it has one, else `count`
    calls of `next()` stacked in one jit.
    """
    next_many = getattr(iterator, 'next_many', None)
    if next_many is not None:
      local = next_many(count)
    else:
      local = self._stack([next(iterator) for _ in range(count)])
    size = np.shape(local.mask)[1] * jax.process_count()
    if size % self.mesh.size:
      raise ValueError(f'The batch size {size} does not divide over '
                       f'{self.mesh.size} devices; choose a multiple of '
                       f'{self.mesh.size} or set num_devices.')
    return local, jax.make_array_from_process_local_data(self.batch_sharding, local)

  def _next_group(self, count: int):
    """The next `count` training batches (`_draw`); notes the top rating seen."""
    local, stacked = self._draw(self.iterator, count)
    if 'rating' in local.metadata:  # One transfer per call, not one per batch.
      ratings = np.asarray(local.metadata['rating']).reshape(-1)
      ratings = ratings[np.isfinite(ratings)]
      if ratings.size:
        old = self.meta.get('top_rating')
        top = float(ratings.max())
        self.meta['top_rating'] = top if old is None else max(old, top)
    return stacked

  def _checkpoint(self, step: int, iterator_state):
    """Every process calls it: Orbax writes the arrays collectively, and the meta
    holds each process's iterator position (gathered here)."""
    self.checkpointer.save(step, self.state.params, self._train_tree(self.state),
                           {'iterators': gather_json(iterator_state), 'run': self.meta})

  def _validation_metrics(self) -> dict[str, float]:
    """The loss and its metrics on the validation batches, named 'validation_*'."""
    context = agent_lib.LossContext(self.state.target, self.teacher, self.state.step)
    metrics = local_copy(self._validate(self.state.params, context,
                                        self._validation_batches, self._validation_key))
    return {f'validation_{k}': float(v) for k, v in metrics.items()}

  def _evaluate(self, step: int, writer) -> dict:
    results = dict(self.eval_fn(local_copy(self.state.params), step))
    writer.write('eval', step, results)
    return results

  def train(self) -> TrainState:
    """Runs until `num_steps` updates; returns the final TrainState."""
    step = self.step
    writer = (writers.MetricsWriter(self.workdir, tensorboard=self.tensorboard,
                                    resume_step=step) if self.is_writer else None)
    bar = (_ProgressBar(self.num_steps, step, self.agent.name)
           if self.progress and self.is_writer else None)
    pending, pending_count = None, 0
    if step < self.num_steps:
      pending_count = min(self.updates_per_call, self.num_steps - step)
      pending = self._next_group(pending_count)
    pending_position = self.iterator.get_state()
    sums: dict[str, float] = {}
    calls, window_start, window_steps = 0, time.perf_counter(), 0
    try:
      while step < self.num_steps:
        self.state, metrics = self._update(self.state, self.teacher, pending)
        position, done = pending_position, pending_count
        # Prepare the next batches on the host while the device computes.
        remaining = self.num_steps - step - done
        if remaining > 0:
          pending_count = min(self.updates_per_call, remaining)
          pending = self._next_group(pending_count)
          pending_position = self.iterator.get_state()
        metrics = local_copy(metrics)
        previous, step = step, step + done
        loss = np.asarray(metrics['loss'])
        if not np.all(np.isfinite(loss)):
          bad = previous + int(np.argmin(np.isfinite(loss))) + 1
          latest = self.checkpointer.latest_step()
          kept = ('No checkpoint was written before it.' if latest is None else
                  f'The last good checkpoint, step {latest}, is in {self.workdir}.')
          raise FloatingPointError(
              f'The loss became {loss[~np.isfinite(loss)][0]} at update {bad} '
              f'(agent {self.agent.name!r}). Lower optimizer.learning_rate, keep '
              'optimizer.max_grad_norm > 0, and check the dataset for NaN or huge '
              f'observations. {kept}')
        for name, values in metrics.items():
          sums[name] = sums.get(name, 0.0) + float(np.sum(values))
        calls += done
        window_steps += done
        log = (_time_to(step, previous, int(self.config.log_every))
               or step == self.num_steps)
        # Every process joins the validation call: it is one program over the mesh.
        validation = (self._validation_metrics() if log and self._validate is not None
                      else {})
        if writer is not None and log:
          elapsed = time.perf_counter() - window_start
          scalars = {k: v / calls for k, v in sums.items()}
          scalars['steps_per_second'] = window_steps / max(elapsed, 1e-9)
          writer.write('train', step, {**scalars, **validation})
          sums, calls = {}, 0
          window_start, window_steps = time.perf_counter(), 0
        if _time_to(step, previous, int(self.config.checkpoint_every)):
          self._checkpoint(step, position)
        if writer is not None and self.eval_fn is not None and _time_to(
            step, previous, int(self.config.eval_every)):
          self._evaluate(step, writer)
        if bar is not None:
          bar.update(step, float(np.mean(loss)))
      if self.checkpointer.latest_step() != step:
        self._checkpoint(step, pending_position)
      if writer is not None and self.eval_fn is not None and int(
          self.config.eval_every) > 0 and step % int(self.config.eval_every):
        self._evaluate(step, writer)
    finally:
      if bar is not None:
        bar.close()
      self.checkpointer.wait()
      if writer is not None:
        writer.close()
    return self.state

  @property
  def params(self) -> PyTree:
    return self.state.params

  @property
  def step(self) -> int:
    return int(local_copy(self.state.step))

  def close(self):
    self.checkpointer.close()


class _ProgressBar:
  """A rich progress bar with the update rate, ETA and loss."""

  def __init__(self, total: int, start: int, name: str):
    # pylint: disable=g-import-not-at-top
    from rich import progress
    self._progress = progress.Progress(
        progress.TextColumn('[bold]{task.description}'), progress.BarColumn(),
        progress.MofNCompleteColumn(),
        progress.TextColumn('{task.fields[rate]:>8.1f} updates/s'),
        progress.TimeRemainingColumn(),
        progress.TextColumn('loss {task.fields[loss]:.4f}'))
    self._task = self._progress.add_task(f'train {name}', total=total, completed=start,
                                         rate=0.0, loss=math.nan)
    self._last = (time.perf_counter(), start)
    self._progress.start()

  def update(self, step: int, loss: float):
    now = time.perf_counter()
    rate = (step - self._last[1]) / max(now - self._last[0], 1e-9)
    self._last = (now, step)
    self._progress.update(self._task, completed=step, rate=rate, loss=loss)

  def close(self):
    self._progress.stop()


def read_metrics(workdir: str, group: str = 'train') -> list[dict]:
  """The rows of a run's `<group>.csv`, numbers parsed."""
  import csv  # pylint: disable=g-import-not-at-top
  with open(os.path.join(workdir, f'{group}.csv'), newline='') as f:
    return [{k: float(v) if v not in ('', None) else math.nan for k, v in row.items()}
            for row in csv.DictReader(f)]

