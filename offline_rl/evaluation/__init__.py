"""Evaluation: batched matches, sharded resumable evaluations and the results store."""
from offline_rl.evaluation.matches import GameResults
from offline_rl.evaluation.matches import outcome
from offline_rl.evaluation.matches import play
from offline_rl.policies import random_policy
from offline_rl.evaluation.store import ResultsStore
from offline_rl.evaluation.store import games_record
from offline_rl.evaluation.work import Shard
from offline_rl.evaluation.work import against_pool
from offline_rl.evaluation.work import plan
from offline_rl.evaluation.work import round_robin
from offline_rl.evaluation.work import run_shards

__all__ = [
    'GameResults',
    'ResultsStore',
    'Shard',
    'against_pool',
    'games_record',
    'outcome',
    'plan',
    'play',
    'random_policy',
    'round_robin',
    'run_shards',
]
