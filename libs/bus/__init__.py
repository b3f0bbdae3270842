"""The bus: broker factory, JetStream streams, the relay, replays, and commands over request/reply."""

from libs.bus.acks import PublishFailed
from libs.bus.broker import StudiosBroker, make_broker
from libs.bus.commands import CommandClient, CommandServer, queue_group
from libs.bus.headers import Envelope
from libs.bus.leadership import LostLeadership
from libs.bus.relay import Relay, relay_status
from libs.bus.replay import replay
from libs.bus.streams import Topology, ensure_streams

__all__ = [
    "CommandClient",
    "CommandServer",
    "Envelope",
    "LostLeadership",
    "PublishFailed",
    "Relay",
    "StudiosBroker",
    "Topology",
    "ensure_streams",
    "make_broker",
    "queue_group",
    "relay_status",
    "replay",
]
