"""The generic learner: jitted K-update loop, sharding, checkpoints, logs, policies."""
from offline_rl.learner.checkpoints import Checkpointer
from offline_rl.learner.checkpoints import load_params
from offline_rl.learner.evaluation import evaluate
from offline_rl.learner.evaluation import make_eval_fn
from offline_rl.learner.learner import VALIDATION_BATCHES
from offline_rl.learner.learner import Learner
from offline_rl.learner.learner import TrainState
from offline_rl.learner.learner import make_mesh
from offline_rl.learner.learner import make_update
from offline_rl.learner.learner import make_validate
from offline_rl.learner.learner import update_target
from offline_rl.learner.learner import read_metrics
from offline_rl.learner.learner import replicate
from offline_rl.learner.optimizers import make_optimizer
from offline_rl.learner.optimizers import make_schedule
from offline_rl.learner.policies import load_agent
from offline_rl.learner.policies import load_policy

__all__ = [
    'Checkpointer',
    'Learner',
    'TrainState',
    'VALIDATION_BATCHES',
    'evaluate',
    'load_agent',
    'load_params',
    'load_policy',
    'make_eval_fn',
    'make_mesh',
    'make_optimizer',
    'make_schedule',
    'make_update',
    'make_validate',
    'update_target',
    'read_metrics',
    'replicate',
]
