"""`ecomtune compare`: the adaptation menu on one split — a cost/quality table, a Pareto plot, a recommendation.

    plan.py    method recipes, validated up front; reuse / resume / train per run directory
    select.py  Pareto front and the cheapest method within a tolerance of the best (pure functions)
    report.py  compare.json, compare.md, compare.html and the rich table
    run.py     compare(): plan -> train -> collect -> write
"""
from ecomtune.comparison.run import compare
from ecomtune.comparison.select import COSTS, pareto_front, pick

__all__ = ["COSTS", "compare", "pareto_front", "pick"]
