import actors


def test_public_names_are_exactly_the_intended_ones() -> None:
    expected = {
        "Actor",
        "ActorSystem",
        "Mailbox",
        "MailboxClosed",
        "MailboxFull",
        "Restart",
        "RestartIntensityExceeded",
        "RestartPolicy",
        "Supervisor",
    }
    assert set(actors.__all__) == expected
    assert {name for name in dir(actors) if not name.startswith("_")} == expected
