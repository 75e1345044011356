"""The benchmark runner and its report: players x environments x seeds -> a results
store -> tables, plots and an HTML page."""
from offline_rl.benchmark import analysis
from offline_rl.benchmark import players
from offline_rl.benchmark import report
from offline_rl.benchmark.runner import Player
from offline_rl.benchmark.runner import matchups
from offline_rl.benchmark.runner import players_from_specs
from offline_rl.benchmark.runner import run
from offline_rl.benchmark.runner import run_all

__all__ = [
    'Player',
    'analysis',
    'matchups',
    'players',
    'players_from_specs',
    'report',
    'run',
    'run_all',
]
