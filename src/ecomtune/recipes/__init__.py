"""Recipes: the validated YAML schema and the bundled presets."""
from ecomtune.recipes.loader import load_recipe, preset_names
from ecomtune.recipes.schema import Recipe

__all__ = ["Recipe", "load_recipe", "preset_names"]
