"""The operator's actions on the instance page, as data.

Each action is a form that the page's script sends as JSON to an existing route of the
HTTP API (``/instances/{id}/<route>``), with the same token rules as any client: no new
way in. The answer, or the problem document, is shown beside the form. An action that
the runtime gains later (retrying an activity now, say) is one more entry here.
"""

from __future__ import annotations

import attrs

from ._html import esc

UNFINISHED = ("running", "waiting", "blocked", "incident", "suspended")


@attrs.frozen(kw_only=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, json (parsed before sending), path (fills {name} in the route)
    required: bool = False
    hint: str = ""


@attrs.frozen(kw_only=True)
class Action:
    name: str
    title: str
    route: str
    statuses: tuple[str, ...]
    """The statuses in which the action is offered (the route refuses the others anyway)."""
    confirm: str | None = None
    """A question asked before a destructive action is sent."""
    fields: tuple[Field, ...] = ()


ACTIONS: tuple[Action, ...] = (
    Action(
        name="event",
        title="Send an event",
        route="events",
        statuses=UNFINISHED,
        fields=(
            Field(name="type", label="Type", required=True, hint="e.g. payment-received"),
            Field(name="subject", label="Subject"),
            Field(name="data", label="Data (JSON)", kind="json", hint='e.g. {"amount": 9.5}'),
        ),
    ),
    Action(
        name="resume",
        title="Resume",
        route="resume",
        statuses=("suspended", "blocked"),
    ),
    Action(
        name="resolve",
        title="Resolve an incident",
        route="incidents/{incident}/resolve",
        statuses=("incident",),
        fields=(
            Field(
                name="incident",
                label="Incident",
                kind="path",
                required=True,
                hint="its id, under Waiting on",
            ),
            Field(
                name="variables",
                label="Variables to set first (JSON)",
                kind="json",
                hint='e.g. {"card": "good"}',
            ),
        ),
    ),
    Action(
        name="cancel",
        title="Cancel",
        route="cancel",
        statuses=UNFINISHED,
        confirm="Cancel this instance? Its workflow is told to stop; this cannot be undone.",
        fields=(Field(name="reason", label="Reason"),),
    ),
)


def _field(action: Action, field: Field) -> str:
    ident = f"{action.name}-{field.name}"
    hint = f" placeholder='{esc(field.hint)}'" if field.hint else ""
    required = " required" if field.required else ""
    common = f"id='{ident}' name='{esc(field.name)}' data-kind='{field.kind}'{hint}{required}"
    control = (
        f"<textarea {common} rows=3></textarea>"
        if field.kind == "json"
        else f"<input {common} autocomplete=off>"
    )
    return f"<div class=field><label for='{ident}'>{esc(field.label)}</label>{control}</div>"


def actions_html(status: str) -> str:
    """Every action's form; the ones not offered in ``status`` are hidden (the script
    shows them when a refresh brings a status that offers them)."""
    forms = []
    for action in ACTIONS:
        hidden = "" if status in action.statuses else " hidden"
        confirm = f" data-confirm='{esc(action.confirm)}'" if action.confirm else ""
        fields = "".join(_field(action, f) for f in action.fields)
        danger = " class=danger" if action.confirm else ""
        forms.append(
            f"<form class=action data-action='{esc(action.route)}'"
            f" data-when='{' '.join(action.statuses)}'{confirm}{hidden}"
            f" aria-labelledby='act-{action.name}'>"
            f"<h3 id='act-{action.name}'>{esc(action.title)}</h3>{fields}"
            f"<button type=submit{danger}>{esc(action.title)}</button>"
            "<p class=outcome role=status aria-live=polite></p></form>"
        )
    finished = "completed failed cancelled"
    hidden = "" if status in finished.split() else " hidden"
    none = f"<p data-when='{finished}'{hidden}>None: the instance has finished.</p>"
    return (
        "<section class=actions aria-labelledby=actions-title><h2 id=actions-title>Actions</h2>"
        "<noscript><p>The actions need JavaScript.</p></noscript>"
        + none
        + "".join(forms)
        + "</section>"
    )
