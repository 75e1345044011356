"""Evaluation: matches, shards and the results store, players by name, tournaments,
their analysis and report, the bot calibration and the demo recipe.

Modules: matches (batched games), work (shards over processes), store (the results
file), players (policies by name), runner (players x environments x seeds into a
store), analysis and report (ratings, tables, plots, HTML), calibration (a bot pool's
round robin and ladder), recipe (record, train, tournament, report). The command line
(offline_rl.commands) sits on top; nothing here imports it.
"""
from offline_rl.evaluation.matches import GameResults
from offline_rl.evaluation.matches import outcome
from offline_rl.evaluation.matches import play
from offline_rl.evaluation.players import Player
from offline_rl.evaluation.players import PolicyNameError
from offline_rl.evaluation.players import register_bots
from offline_rl.evaluation.players import resolve_policy
from offline_rl.evaluation.runner import matchups
from offline_rl.evaluation.runner import players_from_specs
from offline_rl.evaluation.store import ResultsStore
from offline_rl.evaluation.store import games_record
from offline_rl.evaluation.work import Shard
from offline_rl.evaluation.work import against_pool
from offline_rl.evaluation.work import plan
from offline_rl.evaluation.work import round_robin
from offline_rl.evaluation.work import run_shards
from offline_rl.policies import random_policy

__all__ = [
    'GameResults',
    'Player',
    'PolicyNameError',
    'ResultsStore',
    'Shard',
    'against_pool',
    'games_record',
    'matchups',
    'outcome',
    'plan',
    'play',
    'players_from_specs',
    'random_policy',
    'register_bots',
    'resolve_policy',
    'round_robin',
    'run_shards',
]
