"""Parsing BPMN files into the model: every supported kind, and every way to be refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import runtime.bpmn
from runtime.bpmn import (
    BoundaryEvent,
    BpmnError,
    EndEvent,
    ErrorEventDefinition,
    EventBasedGateway,
    ExclusiveGateway,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    LinkEventDefinition,
    MessageEventDefinition,
    ParallelGateway,
    ReceiveTask,
    SendTask,
    ServiceTask,
    StartEvent,
    SubProcess,
    Task,
    TerminateEventDefinition,
    TimerEventDefinition,
    UnsafeXmlError,
    UserTask,
    VariableMapping,
    parse,
)

HERE = Path(__file__).parent
FIXTURES = HERE / "bpmn"
NAMESPACES = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'
)


def bpmn(body: str, *, root: str = "", process_id: str = "p") -> str:
    """A file with one executable process holding ``body``, and ``root`` beside it."""
    return (
        f'<bpmn:definitions {NAMESPACES} id="D">'
        f'<bpmn:process id="{process_id}" isExecutable="true">{body}</bpmn:process>'
        f"{root}</bpmn:definitions>"
    )


LINE = (
    '<bpmn:startEvent id="S"/><bpmn:endEvent id="E"/>'
    '<bpmn:sequenceFlow id="F" sourceRef="S" targetRef="E"/>'
)


def problems(source: str) -> list[str]:
    with pytest.raises(BpmnError) as caught:
        parse(source)
    return caught.value.problems


def test_public_names() -> None:
    assert set(runtime.bpmn.__all__) == {
        "Activity", "BoundaryEvent", "Bounds", "BpmnError", "Cycle", "Definitions", "Diagram",
        "DiagramNotFound", "Edge", "EndEvent", "ErrorDeclaration", "ErrorEventDefinition",
        "EventBasedGateway",
        "EventDefinition", "ExclusiveGateway", "Expression", "FeelError", "FlowNode", "Gateway",
        "InclusiveGateway", "IntermediateCatchEvent", "IntermediateThrowEvent", "Job",
        "LinkEventDefinition", "Message",
        "EscalationDeclaration", "EscalationEventDefinition",
        "ScriptTask", "BusinessRuleTask", "ManualTask", "CallActivity", "Signal",
        "CompensateEventDefinition",
        "SignalEventDefinition",
        "MultiInstance", "MessageEventDefinition", "ParallelGateway",
        "Participant", "Point", "Process", "ReceiveTask", "Scope", "SendTask", "SequenceFlow",
        "ServiceTask", "Shape", "StartEvent", "SubProcess", "Task", "TaskError",
        "TerminateEventDefinition",
        "TimerError", "TimerEventDefinition", "TimerKind", "UnsafeXmlError", "UserTask",
        "VariableMapping", "YearsMonths", "compile_expression", "evaluate_condition",
        "evaluate_expression",
        "first_due", "handler", "instance_diagram", "load", "parse", "parse_cycle",
        "parse_date", "parse_duration", "render_svg", "workflow_diagram",
    }  # fmt: skip
    assert all(hasattr(runtime.bpmn, name) for name in runtime.bpmn.__all__)


# --- the fixtures -------------------------------------------------------------------


def test_tasks() -> None:
    definitions = parse(FIXTURES / "tasks.bpmn")
    process = definitions.processes["tasks"]
    assert process.name == "Every task" and process.is_executable
    plain = process.element("Task_Plain")
    assert isinstance(plain, Task) and plain.name == "Note it"
    assert plain.inputs == (VariableMapping(source="=amount * 2", target="doubled"),)
    assert (plain.incoming, plain.outgoing) == (("F1",), ("F2",))

    charge = process.element("Task_Charge")
    assert isinstance(charge, ServiceTask)
    assert (charge.task_type, charge.retries) == ("charge-card", 5)
    assert dict(charge.headers) == {"currency": "EUR"}
    assert [(m.source, m.target) for m in charge.inputs] == [
        ("=order.total", "amount"),
        ("=order.card", "card"),
    ]
    assert charge.outputs == (VariableMapping(source="=transactionId", target="txn"),)

    approve = process.element("Task_Approve")
    assert isinstance(approve, UserTask)
    assert approve.assignee == "alice"
    assert approve.candidate_groups == "finance, managers"
    assert approve.candidate_group_names == ("finance", "managers")

    receive = process.element("Task_AwaitReceipt")
    assert isinstance(receive, ReceiveTask)
    assert receive.message.name == "receipt-arrived"
    assert receive.message.correlation_key == "=order.id"

    notify = process.element("Task_Notify")
    assert isinstance(notify, SendTask) and notify.task_type == "notify"
    assert notify.message is None

    untyped = process.element("Task_Untyped")
    assert isinstance(untyped, ServiceTask)
    assert (untyped.task_type, untyped.retries) == (None, 3)

    end = process.element("End")
    assert isinstance(end, EndEvent) and end.trigger is None
    # lanes, annotations and associations are not flow nodes
    assert set(process.elements) == {
        "Start", "Task_Plain", "Task_Charge", "Task_Approve", "Task_AwaitReceipt",
        "Task_Notify", "Task_Untyped", "End",
    }  # fmt: skip
    assert definitions.diagrams == ()
    assert definitions.diagram_for("tasks") is None


def test_gateways() -> None:
    process = parse(FIXTURES / "gateways.bpmn").processes["gateways"]
    size = process.element("Gateway_Size")
    assert isinstance(size, ExclusiveGateway)
    assert size.default == "Flow_Small"
    assert size.outgoing == ("Flow_Big", "Flow_Small")
    assert process.flow("Flow_Big").condition == "=amount > 100"
    assert process.flow("Flow_Big").name == "over 100"
    assert process.flow("Flow_Small").condition is None

    extras = process.element("Gateway_Extras")
    assert isinstance(extras, InclusiveGateway) and extras.default == "Flow_NoExtras"
    assert process.flow("Flow_Insure").condition == "=amount >= 500 and insured"
    merge = process.element("Gateway_ExtrasMerge")
    assert isinstance(merge, InclusiveGateway)
    assert merge.incoming == ("Flow_NoExtras", "Flow_Wrapped", "Flow_Insured")

    fork, join = process.element("Gateway_Fork"), process.element("Gateway_Join")
    assert isinstance(fork, ParallelGateway) and isinstance(join, ParallelGateway)
    assert (len(fork.outgoing), len(join.incoming)) == (2, 2)

    race = process.element("Gateway_Race")
    assert isinstance(race, EventBasedGateway)
    targets = [process.flow(f).target for f in race.outgoing]
    assert targets == ["Event_Confirmed", "Event_Timeout", "Task_AwaitCall"]

    # the retry loop: a flow back to an earlier gateway
    retry = process.flow("Flow_Retry")
    assert (retry.source, retry.target) == ("Gateway_Shipped", "Gateway_RaceMerge")
    assert process.element("Gateway_RaceMerge").incoming[-1] == "Flow_Retry"


def test_events() -> None:
    definitions = parse(FIXTURES / "events.bpmn")
    process = definitions.processes["events"]
    assert process.start_events == ("Start_None", "Start_Message", "Start_Timer")
    assert process.none_start_event == "Start_None"
    none, message, timer = (process.element(i) for i in process.start_events)
    assert isinstance(none, StartEvent) and none.trigger is None
    assert isinstance(message, StartEvent)
    assert message.trigger == MessageEventDefinition(
        message=definitions.messages["Message_OrderPlaced"]
    )
    assert isinstance(timer, StartEvent)
    assert timer.trigger == TimerEventDefinition(kind="cycle", expression="R3/PT1H")

    new_year = process.element("Event_NewYear")
    assert isinstance(new_year, IntermediateCatchEvent)
    assert new_year.trigger == TimerEventDefinition(
        kind="date", expression="2027-01-01T00:00:00+01:00"
    )
    delay = process.element("Event_Delay")
    assert isinstance(delay, IntermediateCatchEvent)
    assert delay.trigger == TimerEventDefinition(kind="duration", expression="=delay")
    assert delay.outputs == (VariableMapping(source="=true", target="waited"),)

    throw, catch = process.element("Link_ThrowToWork"), process.element("Link_CatchWork")
    assert isinstance(throw, IntermediateThrowEvent)
    assert throw.trigger == LinkEventDefinition(name="work")
    assert isinstance(catch, IntermediateCatchEvent)
    assert process.link_catches == {"work": "Link_CatchWork"}

    work = process.element("Task_Work")
    assert isinstance(work, ServiceTask)
    assert work.boundary_events == (
        "Boundary_Remind", "Boundary_Cancelled", "Boundary_Failed", "Boundary_AnyError",
    )  # fmt: skip
    remind, cancelled, failed, any_error = process.boundary_events_of("Task_Work")
    assert isinstance(remind.trigger, TimerEventDefinition)
    assert (remind.attached_to, remind.cancel_activity) == ("Task_Work", False)
    assert remind.trigger.expression == "R/PT10M"
    assert isinstance(cancelled.trigger, MessageEventDefinition)
    assert cancelled.cancel_activity
    assert cancelled.trigger.message.correlation_key == "=orderId"
    assert isinstance(failed.trigger, ErrorEventDefinition)
    assert failed.trigger.error_code == "OUT_OF_STOCK"
    assert any_error.trigger == ErrorEventDefinition()
    assert any_error.trigger.error_code is None

    terminate, error = process.element("End_Terminate"), process.element("End_Error")
    assert isinstance(terminate, EndEvent)
    assert terminate.trigger == TerminateEventDefinition()
    assert isinstance(error, EndEvent) and isinstance(error.trigger, ErrorEventDefinition)
    assert error.trigger.error_code == "ORDER_FAILED"
    assert definitions.errors["Error_Failed"].name == "Order failed"


def test_subprocess_in_a_pool() -> None:
    definitions = parse(FIXTURES / "subprocess.bpmn")
    process = definitions.processes["fulfilment"]
    sub = process.element("Sub_Pack")
    assert isinstance(sub, SubProcess)
    assert sub.name == "Pack <fragile> items"
    assert set(sub.elements) == {
        "Sub_Start", "Sub_Wrap", "Sub_LinkThrow", "Sub_LinkCatch", "Sub_Box", "Sub_End",
    }  # fmt: skip
    assert set(sub.flows) == {"Sub_F1", "Sub_F2", "Sub_F3", "Sub_F4"}
    assert sub.start_events == ("Sub_Start",)
    assert sub.link_catches == {"box": "Sub_LinkCatch"}
    assert sub.boundary_events == ("Boundary_TooSlow",)
    assert [m.target for m in sub.inputs] == ["toPack"]
    assert [m.target for m in sub.outputs] == ["parcels"]
    # top level holds only its own elements; the flat index holds all
    assert "Sub_Wrap" not in process.elements and "Sub_F1" not in process.flows
    assert process.element("Sub_Wrap").parent_id == "Sub_Pack"
    assert process.flow("Sub_F1").parent_id == "Sub_Pack"
    assert process.element("Sub_Pack").parent_id is None
    assert process.scope_of("Sub_Wrap") is sub
    assert process.scope_of("Sub_F2") is sub
    assert process.scope_of("Sub_Pack") is process
    # the collaboration and its layout
    assert definitions.participants["Pool_Shop"].process_id == "fulfilment"
    assert definitions.participants["Pool_Shop"].name == "Shop & Co"
    assert definitions.participants["Pool_Customer"].process_id is None
    diagram = definitions.diagram_for("fulfilment")
    assert diagram is not None and diagram.plane_element == "Collaboration_Shop"
    assert diagram.shapes["Sub_Pack"].is_expanded
    assert diagram.shapes["Boundary_TooSlow"].label is not None


def test_the_ordering_diagram() -> None:
    source = (FIXTURES / "ordering.bpmn").read_bytes()
    definitions = parse(source)
    assert definitions.version == hashlib.sha256(source).hexdigest()
    (process,) = definitions.executable_processes
    assert process.id == "ordering-items-workflow"
    assert process.version == definitions.version
    assert process.start_events == ("Start_OrderReceived",)
    assert process.none_start_event == "Start_OrderReceived"

    def task_type(element_id: str) -> str | None:
        task = process.element(element_id)
        assert isinstance(task, ServiceTask)
        return task.task_type

    assert task_type("Task_ValidateOrder") == "validate-order"
    assert task_type("Task_SendBill") == "send-bill"
    assert task_type("Task_FriendlyReminder") == "send-friendly-reminder"
    assert task_type("Task_UpdateAccounting") == "update-accounting"
    assert task_type("Task_PackageAndDeliver") == "package-and-deliver"

    def targets(element_id: str) -> list[str]:
        return [process.flow(f).target for f in process.element(element_id).outgoing]

    wait = process.element("Gateway_AwaitPayment")
    assert isinstance(wait, EventBasedGateway)
    assert targets("Gateway_AwaitPayment") == ["Event_PaymentReceived", "Event_FiveMinutes"]
    paid = process.element("Event_PaymentReceived")
    assert isinstance(paid, IntermediateCatchEvent)
    assert isinstance(paid.trigger, MessageEventDefinition)
    assert paid.trigger.message.name == "payment-received"
    assert paid.trigger.message.correlation_key == "=orderId"
    five = process.element("Event_FiveMinutes")
    assert isinstance(five, IntermediateCatchEvent)
    assert five.trigger == TimerEventDefinition(kind="duration", expression="PT5M")
    assert targets("Event_FiveMinutes") == ["Task_FriendlyReminder"]
    assert targets("Task_FriendlyReminder") == ["Gateway_AwaitLatePayment"]
    assert targets("Gateway_AwaitLatePayment") == ["Event_LatePaymentReceived", "Event_TenMinutes"]
    ten = process.element("Event_TenMinutes")
    assert isinstance(ten, IntermediateCatchEvent)
    assert ten.trigger == TimerEventDefinition(kind="duration", expression="PT10M")
    assert targets("Event_TenMinutes") == ["Task_CancelOrder"]
    assert targets("Task_CancelOrder") == ["End_OrderCancelled"]
    # both payments lead back to the one paid path: fork, two tasks, join, end
    assert targets("Event_LatePaymentReceived") == ["Gateway_Paid"]
    assert targets("Event_PaymentReceived") == ["Gateway_Paid"]
    assert targets("Gateway_Paid") == ["Gateway_Fork"]
    assert isinstance(process.element("Gateway_Fork"), ParallelGateway)
    assert targets("Gateway_Fork") == ["Task_UpdateAccounting", "Task_PackageAndDeliver"]
    assert process.element("Gateway_Join").incoming == ("Flow_AccountingDone", "Flow_DeliveryDone")
    assert targets("Gateway_Join") == ["End_OrderCompleted"]

    diagram = definitions.diagram_for(process.id)
    assert diagram is not None
    assert set(diagram.shapes) == set(process.all_elements)
    assert set(diagram.edges) == set(process.all_flows)
    bounds = diagram.shapes["Task_ValidateOrder"].bounds
    assert (bounds.x, bounds.y, bounds.width, bounds.height) == (240, 180, 100, 80)
    assert [(p.x, p.y) for p in diagram.edges["Flow_ToFiveMinutes"].waypoints] == [
        (570, 245),
        (570, 330),
        (652, 330),
    ]


def test_the_example_is_the_same_diagram() -> None:
    example = HERE.parent / "examples" / "ordering" / "ordering-items-workflow.bpmn"
    assert example.read_bytes() == (FIXTURES / "ordering.bpmn").read_bytes()


def test_sources_bytes_text_and_paths() -> None:
    path = FIXTURES / "tasks.bpmn"
    text = path.read_text()
    for source in (path, str(path), path.read_bytes(), text, "\n  " + text):
        assert "tasks" in parse(source).processes


def test_the_model_is_frozen() -> None:
    process = parse(FIXTURES / "tasks.bpmn").processes["tasks"]
    with pytest.raises(AttributeError):
        process.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        process.elements["x"] = process.element("Start")  # type: ignore[index]
    assert isinstance(hash(process.element("Task_Charge")), int)


# --- refused: unsupported ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '<bpmn:adHocSubProcess id="Task_1"/>',
            "element 'Task_1' of type 'adHocSubProcess' is not supported",
        ),
        ('<bpmn:complexGateway id="Call"/>', "element 'Call' of type 'complexGateway'"),
        ('<bpmn:complexGateway id="G"/>', "element 'G' of type 'complexGateway'"),
        ('<bpmn:transaction id="Tx"/>', "element 'Tx' of type 'transaction'"),
        (
            '<bpmn:intermediateCatchEvent id="Sig"><bpmn:conditionalEventDefinition/>'
            "</bpmn:intermediateCatchEvent>",
            "element 'Sig' of type 'intermediateCatchEvent' with conditionalEventDefinition "
            "is not supported",
        ),
        (
            '<bpmn:endEvent id="Esc"><bpmn:escalationEventDefinition/></bpmn:endEvent>',
            "escalation event 'Esc' needs an escalationRef",
        ),
        (
            '<bpmn:endEvent id="MsgEnd"><bpmn:messageEventDefinition/></bpmn:endEvent>',
            "message end event 'MsgEnd' needs a zeebe:taskDefinition type: as in Zeebe it is a "
            "job, run by the handler registered for that type (bpmn.handler)",
        ),
        (
            '<bpmn:intermediateThrowEvent id="MsgThrow"><bpmn:messageEventDefinition/>'
            "</bpmn:intermediateThrowEvent>",
            "message throw event 'MsgThrow' needs a zeebe:taskDefinition type",
        ),
        (
            '<bpmn:endEvent id="NoneJob"><bpmn:extensionElements><zeebe:taskDefinition type="x"/>'
            "</bpmn:extensionElements></bpmn:endEvent>",
            "element 'NoneJob' of type 'endEvent' has a zeebe:taskDefinition, which only message "
            "throw and end events have",
        ),
        (
            '<bpmn:startEvent id="Cond"><bpmn:conditionalEventDefinition/></bpmn:startEvent>',
            "element 'Cond' of type 'startEvent' with conditionalEventDefinition",
        ),
        (
            '<bpmn:intermediateThrowEvent id="Nothing"/>',
            "element 'Nothing' of type 'intermediateThrowEvent' without an event definition "
            "is not supported",
        ),
        (
            '<bpmn:intermediateCatchEvent id="Wait"/>',
            "element 'Wait' of type 'intermediateCatchEvent' without an event definition",
        ),
        (
            '<bpmn:serviceTask id="Many"><bpmn:multiInstanceLoopCharacteristics/>'
            "</bpmn:serviceTask>",
            "the multi-instance element 'Many' of type 'serviceTask' needs "
            "zeebe:loopCharacteristics with an inputCollection",
        ),
        (
            '<bpmn:serviceTask id="Looped"><bpmn:standardLoopCharacteristics/></bpmn:serviceTask>',
            "element 'Looped' of type 'serviceTask' has standardLoopCharacteristics, "
            "which is not supported (as in Zeebe",
        ),
        (
            '<bpmn:subProcess id="Again"><bpmn:standardLoopCharacteristics/>'
            '<bpmn:startEvent id="In"/></bpmn:subProcess>',
            "element 'Again' of type 'subProcess' has standardLoopCharacteristics, which is not",
        ),
        (
            '<bpmn:subProcess id="OnEvent" triggeredByEvent="true"/>',
            "subprocess 'OnEvent' needs exactly one start event, has 0",
        ),
        (
            '<bpmn:subProcess id="OnNone" triggeredByEvent="true"><bpmn:startEvent id="N"/>'
            "</bpmn:subProcess>",
            "the start event 'N' of event subprocess 'OnNone' needs a message, timer or error",
        ),
        (
            '<bpmn:subProcess id="Sub"><bpmn:startEvent id="In">'
            "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration>"
            "</bpmn:timerEventDefinition></bpmn:startEvent></bpmn:subProcess>",
            "element 'In' of type 'startEvent' with timerEventDefinition in a subprocess",
        ),
        (
            '<bpmn:boundaryEvent id="B" attachedToRef="S"><bpmn:messageEventDefinition/>'
            "<bpmn:timerEventDefinition/></bpmn:boundaryEvent>",
            "element 'B' of type 'boundaryEvent' has several event definitions",
        ),
        (
            '<bpmn:serviceTask id="Listened"><bpmn:extensionElements>'
            "<zeebe:executionListeners/></bpmn:extensionElements></bpmn:serviceTask>",
            "element 'Listened' of type 'serviceTask' has zeebe:executionListeners, "
            "which is not supported",
        ),
        (
            '<bpmn:task id="T"><bpmn:ioSpecification id="Io"/></bpmn:task>',
            "element 'Io' of type 'ioSpecification' is not supported",
        ),
    ],
)
def test_unsupported_elements_are_refused_by_id_and_type(body: str, message: str) -> None:
    found = problems(bpmn(LINE + body))
    assert any(message in problem for problem in found), found


def test_unsupported_root_elements_are_refused() -> None:
    found = problems(bpmn(LINE, root='<bpmn:choreography id="Dance"/>'))
    assert found == ["line 1: element 'Dance' of type 'choreography' is not supported"]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    source = bpmn(
        LINE
        + '<bpmn:complexGateway id="Script"/>'
        + '<bpmn:sequenceFlow id="Dangling" sourceRef="S" targetRef="Nowhere"/>'
        + '<bpmn:receiveTask id="R" messageRef="Missing"/>'
    )
    with pytest.raises(BpmnError) as caught:
        parse(source)
    assert caught.value.problems == [
        "line 1: element 'Script' of type 'complexGateway' is not supported",
        "line 1: element 'R' refers to unknown message 'Missing'",
        "line 1: sequence flow 'Dangling' has target 'Nowhere', which does not exist",
    ]
    assert str(caught.value).startswith("3 problems:\n- line 1: element 'Script'")


# --- refused: unsafe or broken XML ---------------------------------------------------


def test_billion_laughs_is_refused() -> None:
    laughs = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    ]
    source = (
        '<?xml version="1.0"?><!DOCTYPE definitions [' + "".join(laughs) + "]>"
        f'<bpmn:definitions {NAMESPACES}><bpmn:process id="p" name="&lol9;"/>'
        "</bpmn:definitions>"
    )
    with pytest.raises(UnsafeXmlError, match="declares the entity 'lol'; entity declarations"):
        parse(source.encode())


def test_external_entities_are_refused() -> None:
    source = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        f'<bpmn:definitions {NAMESPACES}><bpmn:process id="p" name="&secret;"/>'
        "</bpmn:definitions>"
    )
    with pytest.raises(UnsafeXmlError, match=r"external entity 'secret'.*file:///etc/passwd"):
        parse(source)


def test_malformed_xml_and_other_files_are_refused() -> None:
    with pytest.raises(BpmnError, match="not well-formed XML"):
        parse(b"<bpmn:definitions")
    with pytest.raises(BpmnError, match=r"not a BPMN 2\.0 file: the root element is 'svg'"):
        parse('<svg xmlns="http://www.w3.org/2000/svg"/>')


# --- refused: bad references and shapes ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "root", "message"),
    [
        (
            '<bpmn:sequenceFlow id="X" sourceRef="Ghost" targetRef="E"/>',
            "",
            "sequence flow 'X' has source 'Ghost', which does not exist",
        ),
        (
            '<bpmn:sequenceFlow id="X" sourceRef="S"/>',
            "",
            "sequence flow 'X' has no targetRef",
        ),
        (
            '<bpmn:subProcess id="Sub"><bpmn:startEvent id="In"/></bpmn:subProcess>'
            '<bpmn:sequenceFlow id="X" sourceRef="In" targetRef="E"/>',
            "",
            "sequence flow 'X' has source 'In', which is not in the same process or subprocess",
        ),
        (
            '<bpmn:boundaryEvent id="B" attachedToRef="Ghost"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>"
            "</bpmn:boundaryEvent>",
            "",
            "boundary event 'B' is attached to 'Ghost', which is not an activity",
        ),
        (
            '<bpmn:parallelGateway id="G"/><bpmn:boundaryEvent id="B" attachedToRef="G">'
            "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration>"
            "</bpmn:timerEventDefinition></bpmn:boundaryEvent>",
            "",
            "boundary event 'B' is attached to 'G', which is a parallelGateway, not a task",
        ),
        (
            '<bpmn:task id="T"/><bpmn:boundaryEvent id="B" attachedToRef="T" '
            'cancelActivity="false"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>',
            "",
            "error boundary event 'B' must be interrupting",
        ),
        (
            '<bpmn:exclusiveGateway id="G" default="F"/>',
            "",
            "default flow 'F' of exclusiveGateway 'G' is not one of its outgoing flows",
        ),
        (
            '<bpmn:exclusiveGateway id="G"/><bpmn:task id="A"/><bpmn:task id="B"/>'
            '<bpmn:sequenceFlow id="GA" sourceRef="G" targetRef="A">'
            "<bpmn:conditionExpression>=x</bpmn:conditionExpression></bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="GB" sourceRef="G" targetRef="B"/>',
            "",
            "sequence flow 'GB' leaving exclusiveGateway 'G' needs a condition",
        ),
        (
            '<bpmn:task id="A"/><bpmn:sequenceFlow id="SA" sourceRef="S" targetRef="A">'
            "<bpmn:conditionExpression>=x</bpmn:conditionExpression></bpmn:sequenceFlow>",
            "",
            "sequence flow 'SA' has a condition, but conditions are only supported on flows "
            "leaving an exclusive or inclusive gateway",
        ),
        (
            '<bpmn:eventBasedGateway id="G"/><bpmn:task id="A"/>'
            '<bpmn:sequenceFlow id="GA" sourceRef="G" targetRef="A"/>',
            "",
            "eventBasedGateway 'G' needs at least two outgoing flows",
        ),
        (
            '<bpmn:eventBasedGateway id="G"/><bpmn:task id="A"/>'
            '<bpmn:sequenceFlow id="GA" sourceRef="G" targetRef="A"/>',
            "",
            "eventBasedGateway 'G' leads to 'A', which is not a message, timer or signal catch "
            "event",
        ),
        (
            '<bpmn:receiveTask id="R" messageRef="Nope"/>',
            "",
            "element 'R' refers to unknown message 'Nope'",
        ),
        ('<bpmn:receiveTask id="R"/>', "", "element 'R' needs a messageRef"),
        (
            '<bpmn:endEvent id="Boom"><bpmn:errorEventDefinition errorRef="Nope"/></bpmn:endEvent>',
            "",
            "element 'Boom' refers to unknown error 'Nope'",
        ),
        (
            '<bpmn:endEvent id="Boom"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:endEvent>',
            '<bpmn:error id="Err" name="no code"/>',
            "error 'Err' thrown by end event 'Boom' has no errorCode",
        ),
        (
            '<bpmn:endEvent id="Boom"><bpmn:errorEventDefinition/></bpmn:endEvent>',
            "",
            "error end event 'Boom' needs an errorRef",
        ),
        (
            '<bpmn:intermediateThrowEvent id="Jump"><bpmn:linkEventDefinition name="there"/>'
            "</bpmn:intermediateThrowEvent>",
            "",
            "link throw event 'Jump' has no link catch event named 'there'",
        ),
        (
            '<bpmn:intermediateCatchEvent id="L1"><bpmn:linkEventDefinition name="a"/>'
            '</bpmn:intermediateCatchEvent><bpmn:intermediateCatchEvent id="L2">'
            '<bpmn:linkEventDefinition name="a"/></bpmn:intermediateCatchEvent>',
            "",
            "link catch events 'L1' and 'L2' have the same name 'a'",
        ),
        (
            '<bpmn:intermediateCatchEvent id="L"><bpmn:linkEventDefinition/>'
            "</bpmn:intermediateCatchEvent>",
            "",
            "link event 'L' has no name on its linkEventDefinition",
        ),
        (
            '<bpmn:task id="T"/><bpmn:sequenceFlow id="TS" sourceRef="T" targetRef="S"/>',
            "",
            "startEvent 'S' has incoming sequence flows",
        ),
        (
            '<bpmn:task id="T"/><bpmn:sequenceFlow id="ET" sourceRef="E" targetRef="T"/>',
            "",
            "endEvent 'E' has outgoing sequence flows",
        ),
        ('<bpmn:startEvent id="S2"/>', "", "process 'p' has several none start events"),
        (
            '<bpmn:subProcess id="Sub"><bpmn:task id="Inner"/></bpmn:subProcess>',
            "",
            "subprocess 'Sub' needs exactly one start event, has 0",
        ),
        ('<bpmn:task id="S"/>', "", "duplicate id 'S'"),
        (
            '<bpmn:intermediateCatchEvent id="Later"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>in five minutes</bpmn:timeDuration>"
            "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
            "",
            "timer event 'Later': timer duration 'in five minutes' is not an ISO 8601 duration",
        ),
        (
            '<bpmn:intermediateCatchEvent id="Later"><bpmn:timerEventDefinition>'
            "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
            "",
            "timer event 'Later' needs exactly one non-empty timeDuration, timeDate or timeCycle",
        ),
        (
            '<bpmn:intermediateCatchEvent id="Later"><bpmn:timerEventDefinition>'
            "<bpmn:timeCycle>=R(</bpmn:timeCycle>"
            "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
            "",
            "timer event 'Later': timer cycle '=R(': unknown function 'R' at position 1",
        ),
        (
            '<bpmn:exclusiveGateway id="G"/><bpmn:task id="A"/><bpmn:task id="B"/>'
            '<bpmn:sequenceFlow id="GA" sourceRef="G" targetRef="A">'
            "<bpmn:conditionExpression>=amount &gt;</bpmn:conditionExpression>"
            "</bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="GB" sourceRef="G" targetRef="B">'
            "<bpmn:conditionExpression>=true</bpmn:conditionExpression></bpmn:sequenceFlow>",
            "",
            "element 'GA' of type 'sequenceFlow': condition: unexpected end of expression at "
            "position 9",
        ),
        (
            '<bpmn:task id="T"><bpmn:extensionElements><zeebe:ioMapping>'
            '<zeebe:input source="=a +" target="b"/></zeebe:ioMapping>'
            "</bpmn:extensionElements></bpmn:task>",
            "",
            "element 'T' of type 'task': input mapping to 'b': unexpected end of expression",
        ),
        (
            '<bpmn:task id="T"><bpmn:extensionElements><zeebe:ioMapping>'
            '<zeebe:input source="=a"/></zeebe:ioMapping></bpmn:extensionElements></bpmn:task>',
            "",
            "zeebe:input of element 'T' of type 'task' needs a source and a target",
        ),
        (
            '<bpmn:serviceTask id="T"><bpmn:extensionElements>'
            '<zeebe:taskDefinition type="x" retries="many"/></bpmn:extensionElements>'
            "</bpmn:serviceTask>",
            "",
            "element 'T' of type 'serviceTask': retries 'many' is not a whole number",
        ),
        (
            "",
            '<bpmn:message id="M"><bpmn:extensionElements>'
            '<zeebe:subscription correlationKey="=order."/></bpmn:extensionElements>'
            "</bpmn:message>",
            "element 'M' of type 'message': correlationKey: expected a name after '.'",
        ),
        ("", '<bpmn:message id="M"/>', "message 'M' has no name"),
        (
            "",
            '<bpmn:collaboration id="C"><bpmn:participant id="P" processRef="ghost"/>'
            "</bpmn:collaboration>",
            "participant 'P' refers to unknown process 'ghost'",
        ),
        (
            "",
            '<bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI">'
            '<bpmndi:BPMNPlane bpmnElement="p"><bpmndi:BPMNShape id="Sh" bpmnElement="Ghost"/>'
            "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>",
            "diagram element 'Sh' refers to unknown 'Ghost'",
        ),
        (
            "",
            '<bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
            'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC">'
            '<bpmndi:BPMNPlane bpmnElement="p"><bpmndi:BPMNShape id="Sh" bpmnElement="S">'
            '<dc:Bounds x="one" y="0" width="1" height="1"/></bpmndi:BPMNShape>'
            "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>",
            "diagram element of 'S' has a coordinate that is not a number",
        ),
    ],
)
def test_bad_references_are_refused(body: str, root: str, message: str) -> None:
    found = problems(bpmn(LINE + body, root=root))
    assert any(message in problem for problem in found), found


def test_a_process_without_a_start_event_is_refused() -> None:
    found = problems(bpmn('<bpmn:task id="T"/>'))
    assert found == ["line 1: process 'p' has no start event"]


def test_vendor_extensions_and_zeebe_metadata_are_ignored() -> None:
    source = bpmn(
        '<bpmn:startEvent id="S"><bpmn:extensionElements>'
        '<other:thing xmlns:other="urn:other"/><zeebe:properties/>'
        "</bpmn:extensionElements></bpmn:startEvent>",
    )
    assert parse(source).processes["p"].start_events == ("S",)


def test_boundary_events_belong_to_their_activity() -> None:
    process = parse(FIXTURES / "events.bpmn").processes["events"]
    boundary = process.element("Boundary_Failed")
    assert isinstance(boundary, BoundaryEvent)
    assert boundary.incoming == () and boundary.outgoing == ("Flow_ToError",)
    assert process.boundary_events_of("End_Done") == ()
