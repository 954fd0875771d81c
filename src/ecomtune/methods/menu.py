"""The adaptation menu: named methods as recipe overrides, for `ecomtune compare RECIPE --methods ...`.

A method is a short description and a list of `--set`-style overrides applied on top of the compared recipe.
Adding a method is one registry line. A name ending in `-N` is a family with a number (`freeze-12`): its
overrides use `{n}` where the number goes.

Ad-hoc methods are defined on the command line as `NAME=ITEM,ITEM,...`, where an item is a menu method
(its overrides are included) or a `dotted.key=value` override:

    lora-r4=lora,model.adapter.r=4
    lora-qv=lora,model.adapter.target_modules=[q_proj,v_proj]      # commas inside [] {} or quotes are kept
    full-lr1e-4=training.learning_rate=1e-4
    lora-fgm=lora,fgm
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ecomtune.errors import RecipeError
from ecomtune.registry import Registry

NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")  # method names become run-directory names
_FAMILY = re.compile(r"^(?P<base>.+)-(?P<n>\d+)$")

# Adapters freeze the backbone themselves; the recipe's own freezing/LLRD would be refused with them. (Recipes
# without these keys — generation — skip them: `compare` applies a reset only where the recipe has the key.)
ADAPTER_RESET = _ADAPTER_RESET = ("training.freeze_embeddings=false", "training.freeze_layers=0",
                  "training.gradual_unfreeze=false", "training.layer_lr_decay=1.0")


@dataclass(frozen=True)
class Method:
    """One entry of the menu: what it does and the recipe overrides (`section.key=value`) that make it."""

    name: str
    description: str
    overrides: tuple[str, ...] = ()


METHODS: Registry[Method] = Registry("method")


def _add(name: str, description: str, *overrides: str) -> None:
    METHODS.register(name, Method(name, description, tuple(overrides)))


def _adapter(method: str, lr: str, description: str) -> None:
    _add(method, description, f"model.adapter.method={method}", f"training.learning_rate={lr}", *_ADAPTER_RESET)


_add("full", "the recipe as written: every backbone weight it does not freeze trains")
_add("freeze-N", "the bottom N transformer layers stay fixed; the layers above and the head train",
     "training.freeze_layers={n}", "training.gradual_unfreeze=false")
_adapter("lora", "3e-4", "LoRA: low-rank updates of the attention/MLP projections (peft), lr 3e-4")
_adapter("adalora", "5e-4", "AdaLoRA: LoRA whose rank budget moves to the layers that need it (peft), lr 5e-4")
_adapter("ia3", "3e-3", "IA3: learned rescaling of keys, values and MLP activations (peft), lr 3e-3")
_adapter("prefix", "1e-2", "prefix tuning: trained key/value prefixes in every layer (peft), lr 1e-2")
_adapter("prompt", "3e-2", "prompt tuning: trained virtual tokens before the input (peft), lr 3e-2")
_add("fgm", "FGM adversarial training: one embedding perturbation per batch", "training.adversarial.method=fgm")
_add("pgd", "PGD adversarial training: several projected embedding perturbations per batch",
     "training.adversarial.method=pgd")
_add("focal", "focal loss (gamma 2) with balanced class weights, for imbalanced labels",
     "training.loss.name=focal", "training.loss.class_weights=balanced", "training.label_smoothing=0")
_add("linear-probe", "the backbone stays fixed; only the head trains (the cheapest transfer)",
     "training.linear_probe=true")
_add("mixup", "images: mixup (alpha 0.2) of training image pairs and their labels", "training.augment.mixup=0.2")
_add("cutmix", "images: cutmix (alpha 1.0), a patch of one image pasted into another", "training.augment.cutmix=1.0")
_add("augment", "text augmentation: +50% edited copies of the training rows", "data.augment.fraction=0.5")


def menu() -> list[Method]:
    """The registered methods, in menu order (families show as `name-N`)."""
    return [m for _, m in METHODS.items()]


def get_method(name: str) -> Method:
    """A menu method by name; `freeze-12` instantiates the `freeze-N` family with N = 12."""
    if name in METHODS and not name.endswith("-N"):
        return METHODS.get(name)
    match = _FAMILY.match(name)
    family = f"{match['base']}-N" if match else None
    if family in METHODS:
        m = METHODS.get(family)
        return Method(name, m.description.replace(" N ", f" {match['n']} "),
                      tuple(o.format(n=int(match["n"])) for o in m.overrides))
    raise RecipeError(f"unknown method '{name}' — {_hint(name)}the menu: {', '.join(METHODS.names())} "
                      "(or define one: --method 'NAME=lora,model.adapter.r=4')")


def _hint(name: str) -> str:
    match = _FAMILY.match(name)
    close = difflib.get_close_matches(f"{match['base']}-N" if match else name, METHODS.names(), n=1)
    return f"did you mean `{close[0]}`? " if close else ""


def define_method(spec: str) -> Method:
    """An ad-hoc method from `NAME=ITEM,ITEM,...` (items: menu methods or `dotted.key=value` overrides)."""
    name, sep, body = spec.partition("=")
    name = name.strip()
    if not sep or not body.strip():
        raise RecipeError(f"method definition '{spec}' must look like `NAME=ITEM,...`, e.g. "
                          "`lora-r4=lora,model.adapter.r=4`")
    _check_name(name)
    if name in METHODS or (_FAMILY.match(name) and f"{_FAMILY.match(name)['base']}-N" in METHODS):
        raise RecipeError(f"method definition '{spec}': `{name}` is already on the menu — pick another name, "
                          f"e.g. `{name}-custom`")
    overrides: list[str] = []
    for item in split_items(body):
        if "=" in item:
            if "." not in item.split("=", 1)[0]:
                raise RecipeError(f"method `{name}`: '{item}' is not a `section.key=value` override, e.g. "
                                  "`model.adapter.r=4`")
            overrides.append(item)
        else:
            try:
                overrides.extend(get_method(item).overrides)
            except RecipeError as exc:
                raise RecipeError(f"method `{name}`: {exc}") from None
    return Method(name, f"ad hoc: {body.strip()}", tuple(overrides))


def resolve_methods(names: list[str | Method], definitions: list[str] | None = None) -> list[Method]:
    """Menu names, `NAME=...` definitions and Method objects -> methods, in order: `names` first (a name may
    refer to one of `definitions`), then the definitions not already named. Duplicates are an error."""
    defined: dict[str, Method] = {}
    for spec in definitions or []:
        m = define_method(spec)
        if m.name in defined:
            raise RecipeError(f"method `{m.name}` is defined twice — give each --method its own name")
        defined[m.name] = m
    out: list[Method] = []
    for name in names:
        if isinstance(name, Method):
            _check_name(name.name)
            m = name
        elif "=" in name:
            m = define_method(name)
            if m.name in defined:
                raise RecipeError(f"method `{m.name}` is defined twice — give each --method its own name")
            defined[m.name] = m
        else:
            m = defined.get(name) or get_method(name)
        if any(m.name == o.name for o in out):
            raise RecipeError(f"method `{m.name}` is listed twice — list each method once")
        out.append(m)
    out += [m for m in defined.values() if all(m.name != o.name for o in out)]
    if not out:
        raise RecipeError(f"no methods to compare — e.g. --methods full,lora (the menu: "
                          f"{', '.join(METHODS.names())})")
    return out


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise RecipeError(f"method name '{name}' must be letters, digits, `-`, `_` or `.` (it names a run "
                          "directory), e.g. `lora-r4`")


def split_items(text: str) -> list[str]:
    """Split on commas that are not inside [], {}, () or quotes: `a=1,b=[x,y]` -> [`a=1`, `b=[x,y]`]."""
    items, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    items.append("".join(current).strip())
    if quote or depth:
        raise RecipeError(f"'{text}': unbalanced brackets or quotes — close every [ {{ ( and quote")
    empty = [i for i, item in enumerate(items) if not item]
    if empty:
        raise RecipeError(f"'{text}': empty item (two commas in a row or a trailing comma)")
    return items
