"""BPMN 2.0 for trioflow: load processes as workflows, and register their task handlers.

``load`` registers every executable process of a file as a versioned workflow run by a
token interpreter on the durable core; ``handler`` registers the function a service task
runs. The parsed model, the FEEL-subset evaluator, timers and the SVG view are pure:
they read the bytes they are given and never touch the clock, the network or the journal.
"""

from ._diagrams import DiagramNotFound as DiagramNotFound
from ._diagrams import instance_diagram as instance_diagram
from ._diagrams import workflow_diagram as workflow_diagram
from ._feel import Expression as Expression
from ._feel import FeelError as FeelError
from ._feel import compile as compile_expression
from ._feel import evaluate as evaluate_expression
from ._feel import evaluate_condition as evaluate_condition
from ._feel_temporal import YearsMonths as YearsMonths
from ._handlers import Job as Job
from ._handlers import TaskError as TaskError
from ._handlers import handler as handler
from ._load import load as load
from ._model import Activity as Activity
from ._model import BoundaryEvent as BoundaryEvent
from ._model import Bounds as Bounds
from ._model import BpmnError as BpmnError
from ._model import BusinessRuleTask as BusinessRuleTask
from ._model import CallActivity as CallActivity
from ._model import CompensateEventDefinition as CompensateEventDefinition
from ._model import Definitions as Definitions
from ._model import Diagram as Diagram
from ._model import Edge as Edge
from ._model import EndEvent as EndEvent
from ._model import ErrorDeclaration as ErrorDeclaration
from ._model import ErrorEventDefinition as ErrorEventDefinition
from ._model import EscalationDeclaration as EscalationDeclaration
from ._model import EscalationEventDefinition as EscalationEventDefinition
from ._model import EventBasedGateway as EventBasedGateway
from ._model import EventDefinition as EventDefinition
from ._model import ExclusiveGateway as ExclusiveGateway
from ._model import FlowNode as FlowNode
from ._model import Gateway as Gateway
from ._model import InclusiveGateway as InclusiveGateway
from ._model import IntermediateCatchEvent as IntermediateCatchEvent
from ._model import IntermediateThrowEvent as IntermediateThrowEvent
from ._model import LinkEventDefinition as LinkEventDefinition
from ._model import ManualTask as ManualTask
from ._model import Message as Message
from ._model import MessageEventDefinition as MessageEventDefinition
from ._model import MultiInstance as MultiInstance
from ._model import ParallelGateway as ParallelGateway
from ._model import Participant as Participant
from ._model import Point as Point
from ._model import Process as Process
from ._model import ReceiveTask as ReceiveTask
from ._model import Scope as Scope
from ._model import ScriptTask as ScriptTask
from ._model import SendTask as SendTask
from ._model import SequenceFlow as SequenceFlow
from ._model import ServiceTask as ServiceTask
from ._model import Shape as Shape
from ._model import Signal as Signal
from ._model import SignalEventDefinition as SignalEventDefinition
from ._model import StartEvent as StartEvent
from ._model import SubProcess as SubProcess
from ._model import Task as Task
from ._model import TerminateEventDefinition as TerminateEventDefinition
from ._model import TimerEventDefinition as TimerEventDefinition
from ._model import TimerKind as TimerKind
from ._model import UnsafeXmlError as UnsafeXmlError
from ._model import UserTask as UserTask
from ._model import VariableMapping as VariableMapping
from ._parser import parse as parse
from ._svg import render as render_svg
from ._timers import Cycle as Cycle
from ._timers import TimerError as TimerError
from ._timers import first_due as first_due
from ._timers import parse_cycle as parse_cycle
from ._timers import parse_date as parse_date
from ._timers import parse_duration as parse_duration

__all__ = [
    "Activity",
    "BoundaryEvent",
    "Bounds",
    "BpmnError",
    "BusinessRuleTask",
    "CallActivity",
    "CompensateEventDefinition",
    "Cycle",
    "Definitions",
    "Diagram",
    "DiagramNotFound",
    "Edge",
    "EndEvent",
    "ErrorDeclaration",
    "ErrorEventDefinition",
    "EscalationDeclaration",
    "EscalationEventDefinition",
    "EventBasedGateway",
    "EventDefinition",
    "ExclusiveGateway",
    "Expression",
    "FeelError",
    "FlowNode",
    "Gateway",
    "InclusiveGateway",
    "IntermediateCatchEvent",
    "IntermediateThrowEvent",
    "Job",
    "LinkEventDefinition",
    "ManualTask",
    "Message",
    "MessageEventDefinition",
    "MultiInstance",
    "ParallelGateway",
    "Participant",
    "Point",
    "Process",
    "ReceiveTask",
    "Scope",
    "ScriptTask",
    "SendTask",
    "SequenceFlow",
    "ServiceTask",
    "Shape",
    "Signal",
    "SignalEventDefinition",
    "StartEvent",
    "SubProcess",
    "Task",
    "TaskError",
    "TerminateEventDefinition",
    "TimerError",
    "TimerEventDefinition",
    "TimerKind",
    "UnsafeXmlError",
    "UserTask",
    "VariableMapping",
    "YearsMonths",
    "compile_expression",
    "evaluate_condition",
    "evaluate_expression",
    "first_due",
    "handler",
    "instance_diagram",
    "load",
    "parse",
    "parse_cycle",
    "parse_date",
    "parse_duration",
    "render_svg",
    "workflow_diagram",
]
