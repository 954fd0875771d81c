"""What the Q&A task says to a question: the prompt built from the product's other answered questions, the
refusal when they do not support an answer (the retrieval gate), and whether a question is a yes/no one."""
from __future__ import annotations

import re

from ecomtune.tasks.qa.context import ContextItem, format_context, is_related

YES_NO_START = re.compile(r"^\s*(is|are|was|were|does|do|did|can|could|will|would|should|shall|has|have|had|may|"
                          r"might|must|am|isn't|aren't|doesn't|don't|won't|can't)\b", re.IGNORECASE)


def prompt_input(items: list[ContextItem], question: str, budget: int) -> str:
    return f"Product Q&A:\n{format_context(items, budget) or '(none)'}\n\nQuestion: {' '.join(question.split())}"


def supported(items: list[ContextItem], threshold: float) -> bool:
    """The gate: the product's Q&A answers the question when its best match passes the threshold."""
    return is_related(items, threshold)


def looks_yes_no(question: str) -> bool:
    """A question that starts like a yes/no one (`Is it...`, `Does it...`, `Can I...`)."""
    return bool(YES_NO_START.match(question))
