"""Ratings: Bradley-Terry/Elo with bootstrap intervals, robustness, win-rate matrices,
and single-agent score statistics (normalised scores, IQM with stratified bootstrap)."""
from offline_rl.ratings.elo import ELO_SCALE
from offline_rl.ratings.elo import PairCounts
from offline_rl.ratings.elo import Ratings
from offline_rl.ratings.elo import counts_from_outcomes
from offline_rl.ratings.elo import expected_score
from offline_rl.ratings.elo import fit
from offline_rl.ratings.elo import head_to_head
from offline_rl.ratings.elo import merge_players
from offline_rl.ratings.elo import rate
from offline_rl.ratings.elo import robustness
from offline_rl.ratings.elo import wilson_interval
from offline_rl.ratings.elo import win_rate_matrix
from offline_rl.ratings.scores import Estimate
from offline_rl.ratings.scores import iqm
from offline_rl.ratings.scores import mean_ci
from offline_rl.ratings.scores import normalize
from offline_rl.ratings.scores import stratified_bootstrap

__all__ = [
    'ELO_SCALE',
    'Estimate',
    'PairCounts',
    'Ratings',
    'counts_from_outcomes',
    'expected_score',
    'fit',
    'head_to_head',
    'iqm',
    'merge_players',
    'mean_ci',
    'normalize',
    'rate',
    'robustness',
    'stratified_bootstrap',
    'wilson_interval',
    'win_rate_matrix',
]
