from slack_bolt import Ack, BoltContext


def ragvsft_command(ack: Ack, command: dict, context: BoltContext) -> None:
    """`/ragvsft [symptom | help]`: the first screen, only for the person who asked (the ack
    body is shown as an ephemeral message). Building it is pure and takes well under a
    millisecond per button, so nothing slow sits in front of the ack."""
    message = context["ragvsft"].command(command.get("text"))
    ack(response_type="ephemeral", **message)
