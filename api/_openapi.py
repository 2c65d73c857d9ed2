"""``GET /openapi.json``: the OpenAPI 3.1 description of every route, kept as plain data.

A test checks that its paths and methods are exactly the app's routes.
"""

from __future__ import annotations

from typing import Any

from runtime import STATUSES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/Problem{status}"} for status in statuses}


# An instance id names one URL path segment: no '/', and not '.' or '..'.
_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^(?!\.\.?$)[^/]+$"}
_INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True, "schema": _ID_SCHEMA}
_HTML = {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}
_SEE_OTHER = {"description": "Redirect (Location)."}
_SIGN_IN = {"description": "A token is configured and the browser has not signed in."}
_UNCHANGED = {"description": "Nothing changed since the If-None-Match ETag."}
_FORM = {
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    }
}
_PUBLISHED = _json(_ref("PublishResult"), "The event is stored (committed); what happened to it.")
_CLOUDEVENT_BODY = {
    "description": "Structured mode (one event), batch mode (a JSON array), or binary mode "
    "(attributes in ce-* headers, percent-encoded UTF-8, the data as the body). A batch is "
    "stored whole, in one transaction, or not at all: a refusal names the bad event's index. "
    "An event whose instanceid names no instance is a 404, one that has finished a 409.",
    "required": True,
    "content": {
        "application/cloudevents+json": {"schema": _ref("CloudEvent")},
        "application/cloudevents-batch+json": {
            "schema": {"type": "array", "items": _ref("CloudEvent")}
        },
        "application/json": {"schema": {}},
        "text/plain": {"schema": {"type": "string"}},
    },
}
_CLOUDEVENT_RESPONSES = {
    "202": {
        "description": "Every event is stored: one result, or {items} for a batch.",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _ref("PublishResult"),
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {
                                "items": {"type": "array", "items": _ref("PublishResult")}
                            },
                        },
                    ]
                }
            }
        },
    },
    **_problems(400, 401, 404, 409, 413, 415, 503),
}

_SVG = {
    "description": "An SVG picture of the process, drawn from its BPMNDI layout.",
    "content": {"image/svg+xml": {"schema": {"type": "string"}}},
}

_STATUS = {"type": "string", "enum": list(STATUSES)}

# Incidents of BPMN instances: kept apart from the other instance routes.
_INCIDENT_PATHS: dict[str, Any] = {
    "/instances/{instance_id}/incidents/{incident_id}/resolve": {
        "post": {
            "summary": "Resolve an open incident: set the variables, then retry the element",
            "parameters": [
                _INSTANCE_ID,
                {"name": "incident_id", "in": "path", "required": True, "schema": _ID_SCHEMA},
            ],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"variables": {"type": "object"}},
                        }
                    }
                }
            },
            "responses": {
                "202": _json(
                    _ref("Started"),
                    "The resolution is committed; for an instance another server on the same"
                    " database drives, it is stored for that server, which applies it.",
                ),
                **_problems(400, 401, 404, 409, 415, 503),
            },
        }
    },
}
_INCIDENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "element_id": {"type": "string"},
        "message": {"type": "string"},
        "since": {"type": "string", "format": "date-time"},
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "trioflow",
        "version": "0.1.0",
        "description": "Durable workflows on Trio: start instances, query them, send them events.",
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Health check (no token needed)",
                "description": "200 while this process serves; 503 while it cannot.",
                "security": [],
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"status": {"const": "ok"}}}, "Alive."
                    ),
                    **_problems(503),
                },
            }
        },
        "/workflows": {
            "get": {
                "summary": "The registered workflows",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("Workflow")}},
                        },
                        "Every workflow, by name.",
                    ),
                    **_problems(401),
                },
            }
        },
        "/workflows/{name}": {
            "post": {
                "summary": "Start an instance; the body is the workflow's input",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "description": "The instance id: a repeated start with the same body"
                        " returns that instance; with another body it is a 409. The value is"
                        " read as UTF-8 (a 400 names the header when its bytes are not UTF-8)."
                        " It must not contain '/' nor be '.' or '..'.",
                        "schema": _ID_SCHEMA,
                    },
                ],
                "requestBody": {"content": {"application/json": {"schema": {}}}},
                "responses": {
                    "202": _json(_ref("Started"), "The start is committed."),
                    **_problems(400, 401, 404, 409, 413, 415, 503),
                },
            }
        },
        "/workflows/{name}/diagram.svg": {
            "get": {
                "summary": "The diagram of a BPMN workflow's latest version",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _SVG, **_problems(401, 404)},
            }
        },
        "/instances": {
            "get": {
                "summary": "Instances in creation order, a page at a time",
                "parameters": [
                    {"name": "status", "in": "query", "schema": _STATUS},
                    {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": _ref("Instance")},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "One page; pass next_cursor back for the next one.",
                    ),
                    **_problems(400, 401),
                },
            }
        },
        "/instances/{instance_id}": {
            "get": {
                "summary": "One instance",
                "parameters": [_INSTANCE_ID],
                "responses": {
                    "200": _json(_ref("Instance"), "The instance."),
                    **_problems(401, 404),
                },
            }
        },
        "/instances/{instance_id}/result": {
            "get": {
                "summary": "The outcome, waiting up to `wait` seconds for it",
                "parameters": [
                    _INSTANCE_ID,
                    {
                        "name": "wait",
                        "in": "query",
                        "schema": {"type": "number", "minimum": 0, "maximum": 60, "default": 0},
                    },
                ],
                "responses": {
                    "200": _json(_ref("Outcome"), "Finished (or suspended): output or error."),
                    "202": _json(_ref("Outcome"), "Not finished within `wait`: the status."),
                    **_problems(400, 401, 404),
                },
            }
        },
        "/instances/{instance_id}/history": {
            "get": {
                "summary": "The instance's journal",
                "parameters": [_INSTANCE_ID],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": _ref("Record")},
                                "runs": {"type": "array", "items": _ref("Run")},
                            },
                        },
                        "Every record, in order, and the chain of runs they make"
                        " (`continue_as_new`).",
                    ),
                    **_problems(401, 404),
                },
            }
        },
        "/instances/{instance_id}/diagram.svg": {
            "get": {
                "summary": "The diagram of a BPMN instance's version, its progress marked",
                "description": "Completed elements and taken flows are green, active ones orange.",
                "parameters": [_INSTANCE_ID],
                "responses": {"200": _SVG, **_problems(401, 404, 409)},
            }
        },
        "/instances/{instance_id}/cancel": {
            "post": {
                "summary": "Cancel the instance at its current await",
                "parameters": [_INSTANCE_ID],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": {
                    "202": _json(
                        _ref("Started"),
                        "The cancellation is committed; for an instance another server on the"
                        " same database drives, it is stored for that server, which applies it.",
                    ),
                    **_problems(400, 401, 404, 409, 415, 503),
                },
            }
        },
        "/instances/{instance_id}/resume": {
            "post": {
                "summary": "Drive a suspended instance again (after a code fix, say)",
                "description": "The journal is replayed against the current code; if it still"
                " diverges the instance stays suspended with the new divergence as its error."
                " A blocked instance carries on by itself once the database takes writes:"
                " resuming it makes the journal writer try the database again now.",
                "parameters": [_INSTANCE_ID],
                "responses": {
                    "202": _json(
                        _ref("Started"),
                        "The instance's status after the attempt; for an instance another"
                        " server on the same database drives, the resume is stored for that"
                        " server, which applies it.",
                    ),
                    **_problems(401, 404, 409, 503),
                },
            }
        },
        **_INCIDENT_PATHS,
        "/instances/{instance_id}/events": {
            "post": {
                "summary": "Send an event to this instance only",
                "parameters": [_INSTANCE_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["type"],
                                "properties": {
                                    "type": {"type": "string", "minLength": 1},
                                    "subject": {"type": "string"},
                                    "data": {},
                                },
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {"202": _PUBLISHED, **_problems(400, 401, 404, 409, 413, 415, 503)},
            }
        },
        "/signals/{name}": {
            "post": {
                "summary": "Broadcast a BPMN signal",
                "description": "Every instance waiting for the signal now gets it, and every"
                " process with a signal start event for it starts an instance. A signal is"
                " not buffered: an instance that waits for it later does not get it.",
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"variables": {"type": "object"}},
                                "additionalProperties": False,
                            }
                        }
                    }
                },
                "responses": {"202": _PUBLISHED, **_problems(400, 401, 413, 415, 503)},
            }
        },
        "/events": {
            "post": {
                "summary": "Receive CloudEvents (HTTP binding 1.0)",
                "requestBody": _CLOUDEVENT_BODY,
                "responses": _CLOUDEVENT_RESPONSES,
            }
        },
        "/": {
            "post": {
                "summary": "Receive CloudEvents (HTTP binding 1.0), as POST /events",
                "requestBody": _CLOUDEVENT_BODY,
                "responses": _CLOUDEVENT_RESPONSES,
            }
        },
        "/prune": {
            "post": {
                "summary": "Delete finished instances older than an age, now",
                "description": "Completed, failed and cancelled instances last updated more than"
                " older_than ago are deleted with their journals, whatever their retention, a"
                " batch at a time through the journal (archived first when the server was"
                " started with an archive). Answers what went, or with dry_run what would.",
                "parameters": [
                    {
                        "name": "older_than",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,9}[smhd]$"},
                        "description": "A duration: 30s, 15m, 12h, 7d.",
                    },
                    {
                        "name": "dry_run",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    },
                    {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "dry_run": {"type": "boolean"},
                                "instances": {"type": "integer"},
                                "by_workflow": {"type": "object"},
                                "by_status": {"type": "object"},
                                "events": {"type": "integer"},
                                "archive": {"type": ["string", "null"]},
                            },
                        },
                        "What was deleted (or would be).",
                    ),
                    **_problems(400, 401, 503),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "The Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_problems(401),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1."), **_problems(401)},
            }
        },
        "/ui/": {
            "get": {
                "summary": "Web viewer: the instance list",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "id", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "sort",
                        "in": "query",
                        "schema": {"enum": ["-updated", "updated", "created"]},
                    },
                ],
                "responses": {
                    "200": _HTML,
                    "303": _SIGN_IN,
                    "304": _UNCHANGED,
                    "400": {**_HTML, "description": "An HTML page naming the bad parameter."},
                    **_problems(401),
                },
            }
        },
        "/ui/instances/{instance_id}": {
            "get": {
                "summary": "Web viewer: one instance, its journal as a timeline, its diagram",
                "parameters": [_INSTANCE_ID],
                "responses": {
                    "200": _HTML,
                    "303": _SIGN_IN,
                    "304": _UNCHANGED,
                    **_problems(401, 404),
                },
            }
        },
        "/ui/login": {
            "get": {
                "summary": "Web viewer: the sign-in form (with a token configured)",
                "parameters": [{"name": "next", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _HTML, "303": _SEE_OTHER},
            },
            "post": {
                "summary": "Web viewer: sign in with the token; sets an HttpOnly session cookie",
                "requestBody": _FORM,
                "responses": {
                    "303": _SEE_OTHER,
                    "401": {**_HTML, "description": "The sign-in form again: wrong token."},
                    **_problems(413),
                },
            },
        },
        "/ui/logout": {
            "post": {
                "summary": "Web viewer: sign out (the form carries the page's CSRF token)",
                "requestBody": _FORM,
                "responses": {
                    "303": _SEE_OTHER,
                    "403": {**_HTML, "description": "The CSRF token is missing or stale."},
                    **_problems(413),
                },
            }
        },
        "/ui/static/{name}": {
            "get": {
                "summary": "Web viewer: its script and stylesheet",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "ui.js or ui.css."},
                    **_problems(404),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {
            f"Problem{status}": {
                "description": description,
                "content": {"application/problem+json": {"schema": _ref("Problem")}},
            }
            for status, description in {
                400: "Bad request: the detail names the field or attribute. Besides its own"
                " rules, every JSON body must nest at most 100 levels of arrays and objects"
                " and hold no lone surrogate (such as the escape \\ud800).",
                401: "Missing or wrong bearer token.",
                404: "No such workflow or instance (an event's instanceid included).",
                409: "Conflict: another workflow or another input has that instance id, or the"
                " instance has finished.",
                413: "The body is too large.",
                415: "The body is not of a supported content type.",
                503: "Overloaded, or the database takes no writes now: nothing was done,"
                " retry after the Retry-After header's seconds.",
            }.items()
        },
        "schemas": {
            "Problem": {
                "type": "object",
                "description": "RFC 9457 problem details.",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                    "errors": {"type": "array"},
                    "attribute": {"type": "string"},
                },
            },
            "Workflow": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"enum": ["code", "bpmn"]},
                    "trigger": {"type": ["string", "null"]},
                },
            },
            "Started": {
                "type": "object",
                "properties": {"instance_id": {"type": "string"}, "status": _STATUS},
            },
            "Instance": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "workflow": {"type": "string"},
                    "parent_id": {
                        "description": "The instance whose BPMN call activity started this"
                        " one; null for an instance started otherwise.",
                        "type": ["string", "null"],
                    },
                    "status": _STATUS,
                    "input": {},
                    "output": {},
                    "error": {},
                    "waiting_on": {},
                    "incidents": {"type": "array", "items": _INCIDENT},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "run": {
                        "type": "integer",
                        "description": "The current run: 1, then one more with each"
                        " continue_as_new.",
                    },
                    "blocked": {
                        "description": "While the status is blocked: why the instance waits"
                        " for the database, and since when; null otherwise.",
                        "type": ["object", "null"],
                        "properties": {
                            "reason": {"type": "string"},
                            "since": {"type": "string", "format": "date-time"},
                        },
                    },
                },
            },
            "Outcome": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": _STATUS, "output": {}, "error": {}},
            },
            "Record": {
                "type": "object",
                "properties": {
                    "seq": {"type": "integer"},
                    "kind": {"type": "string"},
                    "at": {"type": "string", "format": "date-time"},
                    "data": {},
                    "run": {"type": "integer", "description": "The run the record belongs to."},
                },
            },
            "Run": {
                "type": "object",
                "properties": {
                    "run": {"type": "integer"},
                    "first_seq": {"type": "integer"},
                    "last_seq": {"type": "integer"},
                    "input": {},
                    "started_at": {"type": "string", "format": "date-time"},
                    "ended": {
                        "description": "How the run ended; null while it is the current one.",
                        "enum": ["completed", "failed", "cancelled", "continued", None],
                    },
                },
            },
            "PublishResult": {
                "type": "object",
                "properties": {
                    "duplicate": {"type": "boolean"},
                    "delivered": {"type": "array", "items": {"type": "string"}},
                    "started": {"type": "array", "items": {"type": "string"}},
                    "rejected": {"type": "array", "items": {"type": "string"}},
                    "stored": {"const": True},
                    "forwarded": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Waiting instances another server on the same database"
                        " drives: the event is stored and that server delivers it there.",
                    },
                },
            },
            "CloudEvent": {
                "type": "object",
                "required": ["specversion", "id", "source", "type"],
                "properties": {
                    "specversion": {"const": "1.0"},
                    "id": {"type": "string", "minLength": 1},
                    "source": {"type": "string", "minLength": 1},
                    "type": {"type": "string", "minLength": 1},
                    "subject": {"type": "string"},
                    "time": {"type": "string", "format": "date-time"},
                    "datacontenttype": {"type": "string"},
                    "dataschema": {"type": "string"},
                    "instanceid": {"type": "string", "description": "Target one instance."},
                    "ttl": {
                        "oneOf": [
                            {"type": "integer", "minimum": 0},
                            {"type": "string", "pattern": "^([0-9]+|P.+)$"},
                        ],
                        "description": (
                            "How long a message no BPMN subscription took stays buffered for"
                            " one that opens later: whole seconds, or an ISO 8601 duration of"
                            " days, hours, minutes and seconds (PT10M)."
                        ),
                    },
                    "data": {},
                },
                "propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
            },
        },
    },
}
