"""A small, workflow-agnostic actor kit on Trio: mailboxes, supervisors and an actor system."""

from ._mailbox import Mailbox as Mailbox
from ._mailbox import MailboxClosed as MailboxClosed
from ._mailbox import MailboxFull as MailboxFull
from ._supervisor import Restart as Restart
from ._supervisor import RestartIntensityExceeded as RestartIntensityExceeded
from ._supervisor import RestartPolicy as RestartPolicy
from ._supervisor import Supervisor as Supervisor
from ._system import Actor as Actor
from ._system import ActorSystem as ActorSystem

__all__ = [
    "Actor",
    "ActorSystem",
    "Mailbox",
    "MailboxClosed",
    "MailboxFull",
    "Restart",
    "RestartIntensityExceeded",
    "RestartPolicy",
    "Supervisor",
]
