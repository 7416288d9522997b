"""The sections of a model card, named once.

Each section has a name (its key in the API and its column in approvals_app's
CardRevision), a title (its label in forms and its heading in the card's Markdown),
whether a promotion policy requires it by default, and a line of help for the people who
write it. Everything else derives from CARD_SECTIONS: the policy's choices and default,
the card's Markdown and hash, its forms in the dashboard and the admin, and the API's
schema. A section added here needs a column of the same name in CardRevision (and a
migration); `manage.py check` says so when one is missing.

This module imports nothing from the project, so that every app can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CardSection:
    name: str
    title: str
    required_by_default: bool = True
    help_text: str = ""


CARD_SECTIONS: tuple[CardSection, ...] = (
    CardSection(
        "intended_use",
        "Intended use",
        help_text="What the model is for and who should use it; the uses it is not meant for.",
    ),
    CardSection(
        "training_data",
        "Training data",
        help_text="The data the model learnt from: its source, its time span and its gaps.",
    ),
    CardSection(
        "evaluation",
        "Evaluation",
        help_text="How the model was tested: on which data, with which metrics, and the results.",
    ),
    CardSection(
        "limitations",
        "Limitations",
        help_text="Where the model does badly or should not be trusted.",
    ),
    CardSection(
        "ethical_considerations",
        "Ethical considerations",
        help_text="Risks to people (fairness, privacy, misuse) and how they are handled.",
    ),
)

# The names in card order.
SECTION_NAMES: tuple[str, ...] = tuple(section.name for section in CARD_SECTIONS)
# Name → title, in card order.
SECTION_TITLES: dict[str, str] = {section.name: section.title for section in CARD_SECTIONS}
# The sections a policy requires unless it says otherwise.
REQUIRED_BY_DEFAULT: tuple[str, ...] = tuple(
    section.name for section in CARD_SECTIONS if section.required_by_default
)
