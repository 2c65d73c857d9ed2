"""trioflow's HTTP front end and command line.

``create_app`` builds the API; an application adding its own routes next to it
uses ``read_json`` (the same 415/400 rules) and raises ``HTTPProblem`` for errors.
"""

from ._app import create_app as create_app
from ._middleware import read_json as read_json
from ._problems import HTTPProblem as HTTPProblem
from ._serve import run as run
from ._serve import serve as serve

__all__ = ["HTTPProblem", "create_app", "read_json", "run", "serve"]
